// The pipeline board: drag a card to another column to move the deal there.
// The server answers every move with the card as it now is (moved, or still in its stage with the
// reasons it could not move); this file only keeps each card in its stage's column, in the columns'
// order (stage_entered_at, id), and without duplicates after a "Load more".
(function () {
  "use strict";

  function column(stageId) {
    return document.getElementById("cards-" + stageId);
  }

  // Card keys are "<microseconds>_<id>": compare as numbers, microseconds first.
  function keyOf(card) {
    var parts = (card.dataset.key || "0_0").split("_");
    return [Number(parts[0]), Number(parts[1])];
  }

  function before(a, b) {
    return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  }

  // Put a card in its stage's column at its place in the column's order.
  function place(card) {
    var list = column(card.dataset.stageId);
    if (!list) {
      card.remove(); // its stage is not on this board (e.g. moved by someone else to another process)
      return;
    }
    var key = keyOf(card);
    var cards = list.querySelectorAll(".deal-card");
    var next = null;
    for (var i = 0; i < cards.length; i++) {
      if (cards[i] !== card && before(key, keyOf(cards[i]))) {
        next = cards[i];
        break;
      }
    }
    if (card.parentNode !== list || card.nextElementSibling !== next) {
      list.insertBefore(card, next);
    }
  }

  // After "Load more", a card moved here earlier may arrive again: keep the fresh copy.
  function dedupe(card) {
    var copies = document.querySelectorAll('.deal-card[data-deal-id="' + card.dataset.dealId + '"]');
    copies.forEach(function (other) {
      if (other !== card) other.remove();
    });
  }

  function filterValues() {
    var form = document.getElementById("board-filters");
    var values = {};
    if (form) {
      new FormData(form).forEach(function (value, name) {
        values[name] = value;
      });
    }
    return values;
  }

  function move(card, toStageId) {
    var values = filterValues();
    values.to_stage = toStageId;
    values.version = card.dataset.version;
    values.context = "board";
    card.classList.add("moving");
    htmx.ajax("POST", card.dataset.moveUrl, {
      source: card,
      target: card,
      swap: "outerHTML",
      values: values,
    });
  }

  function initColumn(list) {
    if (list.dataset.sortable) return;
    list.dataset.sortable = "1";
    Sortable.create(list, {
      group: "board",
      sort: false, // a column's order is time in stage, not a ranking
      draggable: '.deal-card[data-editable="1"]',
      filter: "a, button, select, textarea, input",
      preventOnFilter: false,
      ghostClass: "sortable-ghost",
      onEnd: function (event) {
        var card = event.item;
        if (event.to === event.from) return;
        move(card, event.to.dataset.stageId);
      },
    });
  }

  htmx.onLoad(function (root) {
    var scope = root.querySelectorAll ? root : document;
    if (scope.classList && scope.classList.contains("deal-card")) {
      dedupe(scope);
      place(scope);
    }
    scope.querySelectorAll(".board-cards").forEach(initColumn);
    scope.querySelectorAll(".board-cards .deal-card").forEach(dedupe);
  });

  // A move that failed on the way (network, server error): the card goes back to its column.
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var card = event.detail.elt;
    if (card && card.classList && card.classList.contains("deal-card")) {
      card.classList.remove("moving");
      if (!event.detail.successful && card.isConnected) place(card);
    }
  });
})();
