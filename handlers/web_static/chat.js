// Mustafid web chat: no framework, no build step. Text from people and from the assistant is only ever
// inserted with textContent, never as HTML.
const strings = JSON.parse(document.getElementById("strings").textContent);
const body = document.body;
const log = document.getElementById("log");
const statusLine = document.getElementById("status");
const form = document.getElementById("composer");
const input = document.getElementById("text");
const sendButton = document.getElementById("send");
const attachButton = document.getElementById("attach");
const fileInput = document.getElementById("file");
const switchButton = document.getElementById("switch");
const maxUpload = Number(body.dataset.maxUpload);
const maxText = Number(body.dataset.maxText);
const accepted = ["image/jpeg", "image/png", "image/webp", "application/pdf"];

let lang = document.documentElement.lang || "ar";
let last = 0; // the last message number shown: the server sends what comes after it
let source = null;
let retryDelay = 500;
let askedStart = false;
let choices = null; // the one set of choice buttons, always just after the last message
const unsent = []; // messages the server has not confirmed: sent again (same id) after reconnecting

function t(name) {
  return (strings[lang] || strings.ar)[name] || "";
}

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function setLanguage(next) {
  if (!strings[next] || next === lang) return;
  lang = next;
  document.documentElement.lang = next;
  document.documentElement.dir = next === "ar" ? "rtl" : "ltr";
  document.title = t("title");
  document.getElementById("title").textContent = t("title");
  document.getElementById("subtitle").textContent = t("subtitle");
  switchButton.textContent = t("switch");
  log.setAttribute("aria-label", t("log_label"));
  input.setAttribute("aria-label", t("composer_label"));
  input.placeholder = t("placeholder");
  sendButton.textContent = t("send");
  attachButton.setAttribute("aria-label", t("attach"));
  attachButton.title = t("attach");
  followDirection();
}

function atBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

// A reference number (2026-00001) or a phone number is read as one piece: it never breaks at its hyphen.
const unbreakable = /(\d{4}-\d{5}|\+?\d[\d-]{6,}\d)/;

function appendText(element, text) {
  for (const [index, part] of text.split(unbreakable).entries()) {
    if (!part) continue;
    if (index % 2 === 1) {
      const piece = document.createElement("bdi");
      piece.className = "nowrap";
      piece.dir = "ltr"; // digits and their hyphen keep their order inside Arabic text
      piece.textContent = part;
      element.append(piece);
    } else {
      element.append(document.createTextNode(part));
    }
  }
}

function bubble(role, text, extra = {}) {
  const element = document.createElement("div");
  element.className = `bubble ${role}`;
  element.dataset.role = role;
  element.setAttribute("dir", "auto");
  if (extra.seq) element.dataset.seq = String(extra.seq);
  if (extra.key) element.dataset.key = extra.key;
  if (extra.mid) element.dataset.mid = extra.mid;
  if (text) appendText(element, text);
  if (extra.file) {
    const line = extra.seq && role === "bot" ? document.createElement("a") : document.createElement("span");
    line.className = "file";
    line.setAttribute("dir", "auto");
    line.textContent = `📎 ${extra.file.name || t("file_from_staff")}`;
    if (line.tagName === "A") {
      line.href = `/web/file/${extra.seq}`;
      line.setAttribute("download", "");
    }
    element.append(line);
  }
  return element;
}

function place(element) {
  const follow = atBottom();
  if (choices && choices.parentNode === log) log.insertBefore(element, choices);
  else log.append(element);
  if (follow || element.dataset.role === "user") log.scrollTop = log.scrollHeight;
}

function clearChoices() {
  if (choices) choices.remove();
  choices = null;
}

function choiceBlock(options, expect) {
  const block = document.createElement("div");
  block.className = expect === "rating" ? "choices rating" : "choices";
  for (const [id, label] of options) {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("dir", "auto");
    button.dataset.option = id;
    button.textContent = label;
    button.addEventListener("click", () => {
      for (const other of block.querySelectorAll("button")) other.disabled = true;
      send({ option: id, label });
    });
    block.append(button);
  }
  return block;
}

function showChoices(options, expect) {
  if (expect === "rating") {
    // A poll keeps its stars under it until they are used, whatever comes after (as on Telegram).
    place(choiceBlock(options, expect));
    return;
  }
  clearChoices();
  choices = choiceBlock(options, expect);
  log.append(choices);
  log.scrollTop = log.scrollHeight;
}

function apply(message) {
  if (message.seq <= last) return;
  last = message.seq;
  if (message.role === "user" && message.mid) {
    const pending = log.querySelector(`.bubble.pending[data-mid="${message.mid}"]`);
    if (pending) pending.remove();
  }
  if (message.role === "bot" && message.lang) setLanguage(message.lang);
  place(bubble(message.role, message.text, message));
  if (message.role === "user") {
    clearChoices();
    for (const poll of log.querySelectorAll(".choices.rating")) {
      const labels = Array.from(poll.querySelectorAll("button"), (button) => button.textContent);
      if (labels.includes(message.text)) poll.remove();
      else for (const button of poll.querySelectorAll("button")) button.disabled = false;
    }
  } else if (message.options && message.options.length) {
    showChoices(message.options, message.expect);
  }
}

function applyAll(messages) {
  for (const message of messages || []) apply(message);
}

async function post(payload) {
  const response = await fetch("/web/message", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  });
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = {};
  }
  return { ok: response.ok, status: response.status, data };
}

async function deliver(item) {
  try {
    const result = await post(item.payload);
    const index = unsent.indexOf(item);
    if (index >= 0) unsent.splice(index, 1);
    if (result.ok) {
      applyAll(result.data.messages);
      return true;
    }
    item.element?.remove();
    setStatus(result.data.error || t("offline"), true);
    if (item.payload.text && !input.value) input.value = item.payload.text;
    if (choices) for (const button of choices.querySelectorAll("button")) button.disabled = false;
    return false;
  } catch {
    setStatus(t("offline"), true); // kept in `unsent`: sent again when the connection is back
    return false;
  }
}

function send(fields) {
  const payload = { mid: randomId(), ...fields };
  const item = { payload, element: null };
  if (fields.text !== undefined || fields.label) {
    item.element = bubble("user", fields.text ?? fields.label, { mid: payload.mid });
    item.element.classList.add("pending");
    place(item.element);
  }
  unsent.push(item);
  deliver(item);
}

function flushUnsent() {
  for (const item of [...unsent]) deliver(item);
}

function submitText() {
  const text = input.value;
  if (!text.trim()) return;
  if (text.length > maxText) {
    setStatus(t("too_long").replace("{max}", maxText.toLocaleString(lang === "ar" ? "ar-SA" : "en")), true);
    return;
  }
  input.value = "";
  resize();
  setStatus("");
  send({ text });
}

function followDirection() {
  // The composer follows what is typed (Arabic right to left, English left to right); empty, the page's
  // direction, so the placeholder reads correctly.
  input.dir = input.value.trim() ? "auto" : document.documentElement.dir;
}

function resize() {
  followDirection();
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 128)}px`;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submitText();
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submitText();
  }
});
input.addEventListener("input", resize);
switchButton.addEventListener("click", () => {
  send({ option: lang === "ar" ? "lang.en" : "lang.ar", label: t("switch") });
});
attachButton.addEventListener("click", () => fileInput.click());
fileInput.addEventListener("change", () => {
  const file = fileInput.files[0];
  fileInput.value = "";
  if (!file) return;
  if (file.size > maxUpload) {
    setStatus(t("file_too_big").replace("{max_mb}", String(Math.floor(maxUpload / 1048576))), true);
    return;
  }
  if (file.type && !accepted.includes(file.type)) {
    setStatus(t("file_type"), true);
    return;
  }
  upload(file);
});

function upload(file) {
  const mid = randomId();
  const request = new XMLHttpRequest();
  const query = `mid=${mid}&name=${encodeURIComponent(file.name)}`;
  request.open("POST", `/web/upload?${query}`);
  request.setRequestHeader("Content-Type", file.type || "application/octet-stream");
  attachButton.disabled = true;
  setStatus(`${t("uploading")} 0%`);
  request.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) setStatus(`${t("uploading")} ${Math.round((event.loaded / event.total) * 100)}%`);
  });
  request.addEventListener("load", () => {
    attachButton.disabled = false;
    let data = {};
    try {
      data = JSON.parse(request.responseText);
    } catch {
      data = {};
    }
    if (request.status === 200) {
      setStatus("");
      applyAll(data.messages);
    } else {
      setStatus(data.error || t("upload_failed"), true);
    }
  });
  request.addEventListener("error", () => {
    attachButton.disabled = false;
    setStatus(t("upload_failed"), true);
  });
  request.send(file);
}

function connect() {
  source = new EventSource(`/web/events?after=${last}`);
  source.addEventListener("hello", (event) => {
    const info = JSON.parse(event.data);
    retryDelay = 500;
    setStatus("");
    if (info.last < last) {
      // The server's conversation is shorter than ours (its database was replaced): show its own.
      for (const old of log.querySelectorAll(".bubble:not(.pending)")) old.remove();
      last = 0;
    }
    if (info.last === 0 && last === 0 && !askedStart) {
      askedStart = true;
      post({ start: true }).then((result) => result.ok && applyAll(result.data.messages)).catch(() => {});
    }
    flushUnsent();
  });
  source.addEventListener("message", (event) => apply(JSON.parse(event.data)));
  source.addEventListener("error", () => {
    // Closed by the server (it restarted) or the network: reconnect, saying what we already have.
    source.close();
    setStatus(t("connecting"));
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 5000);
  });
}

setLanguage(lang);
connect();
