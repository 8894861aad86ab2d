// The deal page's plan: drag a step by its handle to reorder the plan. On drop the whole order (every
// step id) is posted, and the server answers with the plan as stored, so a refused order puts the
// steps back. The ↑ ↓ buttons beside each step do the same from the keyboard; after one, the focus
// returns to the moved step's button so a keyboard user can keep moving it.
(function () {
  "use strict";

  function postOrder(list) {
    var ids = Array.prototype.map.call(list.querySelectorAll(":scope > .plan-step"), function (li) {
      return li.dataset.stepId;
    });
    htmx.ajax("POST", list.dataset.reorderUrl, {
      source: list,
      target: "#deal-plan",
      swap: "outerHTML",
      values: { step_ids: ids.join(",") },
    });
  }

  function initPlan(list) {
    if (!list.dataset.reorderUrl || Sortable.get(list)) return;
    Sortable.create(list, {
      handle: ".plan-handle",
      draggable: ".plan-step",
      animation: 150,
      ghostClass: "opacity-50",
      onEnd: function (event) {
        if (event.oldIndex !== event.newIndex) postOrder(list);
      },
    });
  }

  function refocus(section) {
    var stepId = section.dataset.movedStep;
    if (!stepId) return;
    var step = document.getElementById("step-" + stepId);
    if (!step) return;
    var button = step.querySelector('[data-move="' + section.dataset.movedDirection + '"]');
    if (!button || button.disabled) button = step.querySelector("[data-move]:not([disabled])");
    if (button) button.focus();
  }

  htmx.onLoad(function (root) {
    var scope = root.querySelectorAll ? root : document;
    if (scope.id === "deal-plan") refocus(scope);
    scope.querySelectorAll("#plan-steps").forEach(initPlan);
  });
})();
