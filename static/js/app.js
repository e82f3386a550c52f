// Plumb shell behaviour. No inline scripts anywhere: CSP allows only our own files.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  const box = document.getElementById("messages");
  if (!box) return;
  const div = document.createElement("div");
  div.className = "alert alert-danger py-2";
  div.setAttribute("role", "alert");
  div.textContent = status === 403 ? "You are not allowed to do that." : `Something went wrong (HTTP ${status}). Reload and try again.`;
  box.replaceChildren(div);
});
