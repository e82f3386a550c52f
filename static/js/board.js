// Kanban board: SortableJS drag and drop + htmx, a keyboard "Move to…" dialog and the lost
// dialog. Also the drag-to-reorder list on the pipeline settings page.
(function () {
  "use strict";

  const board = document.getElementById("board");
  let pending = null; // {card, stage, kind, revert} while a dialog is open

  function neighbours(card) {
    let prev = card.previousElementSibling;
    while (prev && !prev.classList.contains("board-card")) prev = prev.previousElementSibling;
    let next = card.nextElementSibling;
    while (next && !next.classList.contains("board-card")) next = next.nextElementSibling;
    return { after: prev ? prev.dataset.id : "", before: next ? next.dataset.id : "" };
  }

  function postMove(card, values) {
    const body = Object.assign({ version: card.dataset.version }, values);
    return htmx.ajax("POST", card.dataset.moveUrl, {
      source: card,
      target: card,
      swap: "outerHTML",
      values: body,
    });
  }

  function askLostReason(card, stage, revert, via) {
    pending = { card: card, stage: stage, revert: revert, via: via, done: false };
    const dialog = document.getElementById("lost-dialog");
    dialog.querySelectorAll("[data-card-name]").forEach((el) => { el.textContent = card.dataset.name; });
    document.getElementById("lost-note").value = "";
    bootstrap.Modal.getOrCreateInstance(dialog).show();
  }

  if (board) {
    const lists = board.querySelectorAll(".board-cards, .board-drop-zone");
    lists.forEach((list) => {
      const isZone = list.classList.contains("board-drop-zone");
      Sortable.create(list, {
        group: { name: "board", pull: !isZone, put: true },
        sort: !isZone,
        draggable: ".board-card",
        filter: ".move-to",
        preventOnFilter: false,
        forceFallback: true, // pointer events: same behaviour in every browser and in tests
        fallbackTolerance: 4,
        animation: 120,
        onEnd: function (evt) {
          const card = evt.item;
          if (evt.from === evt.to && evt.oldIndex === evt.newIndex) return;
          const from = evt.from;
          const oldIndex = evt.oldIndex;
          const revert = () => from.insertBefore(card, from.children[oldIndex] || null);
          const stage = evt.to.dataset.stage;
          if (evt.to.dataset.kind === "lost") {
            askLostReason(card, stage, revert, "drag");
            return;
          }
          const n = neighbours(card);
          postMove(card, { stage: stage, after_id: n.after, before_id: n.before, via: "drag" });
        },
      });
    });

    // Keyboard path: "Move to…" on a card opens one shared dialog listing the stages.
    const moveDialog = document.getElementById("move-dialog");
    let menuCard = null;
    board.addEventListener("click", (event) => {
      const button = event.target.closest(".move-to");
      if (!button) return;
      menuCard = button.closest(".board-card");
      moveDialog.querySelectorAll("[data-card-name]").forEach((el) => { el.textContent = menuCard.dataset.name; });
      moveDialog.querySelectorAll(".move-choice").forEach((choice) => {
        choice.disabled = choice.dataset.stage === menuCard.dataset.stage;
      });
      bootstrap.Modal.getOrCreateInstance(moveDialog).show();
    });
    moveDialog.addEventListener("click", (event) => {
      const choice = event.target.closest(".move-choice");
      if (!choice || !menuCard) return;
      const card = menuCard;
      menuCard = null;
      bootstrap.Modal.getOrCreateInstance(moveDialog).hide();
      if (choice.dataset.kind === "lost") {
        askLostReason(card, choice.dataset.stage, () => {}, "menu");
        return;
      }
      postMove(card, { stage: choice.dataset.stage, via: "menu" });
    });

    const lostDialog = document.getElementById("lost-dialog");
    document.getElementById("lost-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (!pending) return;
      const reason = document.getElementById("lost-reason").value;
      if (!reason) return;
      pending.done = true;
      const p = pending;
      bootstrap.Modal.getOrCreateInstance(lostDialog).hide();
      postMove(p.card, {
        stage: p.stage,
        lost_reason: reason,
        lost_note: document.getElementById("lost-note").value,
        via: p.via === "menu" ? "menu" : "drag",
      });
    });
    lostDialog.addEventListener("hidden.bs.modal", () => {
      // Cancelled: the dragged card goes back where it came from.
      if (pending && !pending.done) pending.revert();
      pending = null;
    });
  }

  // Settings: drag stages to reorder; the new order is POSTed as repeated `stage` values.
  const stageList = document.getElementById("stage-order");
  if (stageList) {
    Sortable.create(stageList, {
      handle: ".drag-handle",
      draggable: "tr",
      forceFallback: true,
      onEnd: function () {
        const ids = Array.from(stageList.querySelectorAll("tr[data-stage]")).map((tr) => tr.dataset.stage);
        htmx.ajax("POST", stageList.dataset.url, { source: stageList, swap: "none", values: { stage: ids } });
      },
    });
  }
})();
