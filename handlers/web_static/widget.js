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
  launcher.textContent = "💬";
  launcher.setAttribute("aria-label", text.title || "Chat");
  launcher.setAttribute("aria-expanded", "false");
  Object.assign(launcher.style, {
    position: "fixed", bottom: "16px", [side]: "16px", width: "56px", height: "56px", borderRadius: "50%",
    border: "0", background: "#0f6e5a", color: "#fff", fontSize: "26px", cursor: "pointer",
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
