// Mustafid chat launcher for the association's own site:
//   <script src="https://chat.example.org/widget.js" defer></script>      (data-lang="en" for English)
// It adds a round button; pressing it opens the same chat in a panel (an iframe of this server's page).
(() => {
  const strings = /*STRINGS*/{};
  const script = document.currentScript;
  if (!script || window.__mustafidWidget) return;
  window.__mustafidWidget = true;
  const origin = new URL(script.src).origin;
  const lang = script.dataset.lang === "en" ? "en" : "ar";
  const text = strings[lang] || strings.ar || {};
  const side = lang === "ar" ? "left" : "right";

  const launcher = document.createElement("button");
  launcher.type = "button";
  // An icon drawn here, not an emoji: not every system has a colour-emoji font.
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "28");
  svg.setAttribute("height", "28");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  svg.append(path);
  launcher.append(svg);
  launcher.setAttribute("aria-label", text.title || "Chat");
  launcher.setAttribute("aria-expanded", "false");
  Object.assign(launcher.style, {
    position: "fixed", bottom: "16px", [side]: "16px", width: "56px", height: "56px", borderRadius: "50%",
    border: "0", background: "#0f6e5a", color: "#fff", cursor: "pointer", display: "flex",
    alignItems: "center", justifyContent: "center",
    boxShadow: "0 4px 12px rgba(0,0,0,.25)", zIndex: "2147483646",
  });

  let panel = null;
  function open() {
    if (!panel) {
      panel = document.createElement("iframe");
      panel.src = `${origin}/?embed=1`;
      panel.title = text.title || "Chat";
      panel.setAttribute("allow", "clipboard-write");
      Object.assign(panel.style, {
        position: "fixed", bottom: "84px", [side]: "16px", width: "min(400px, calc(100vw - 32px))",
        height: "min(640px, calc(100vh - 110px))", border: "1px solid #dde5e2", borderRadius: "12px",
        boxShadow: "0 8px 24px rgba(0,0,0,.2)", background: "#fff", zIndex: "2147483647",
      });
      document.body.append(panel);
    } else {
      panel.hidden = !panel.hidden;
    }
    launcher.setAttribute("aria-expanded", String(!panel.hidden));
  }
  launcher.addEventListener("click", open);
  document.body.append(launcher);
})();
