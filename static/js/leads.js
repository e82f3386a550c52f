// Leads list: "check all" toggles every row checkbox of the current page (they belong to #bulk-form).
document.addEventListener("change", (event) => {
  if (event.target.id !== "check-all") return;
  document.querySelectorAll(".lead-check").forEach((box) => { box.checked = event.target.checked; });
});
