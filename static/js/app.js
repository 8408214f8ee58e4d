/* Sigillo pages: small progressive enhancements on top of server-rendered HTML.
 * Everything works without this file; it adds the dialog, the menus' dismissal,
 * copy to clipboard, and the dynamic rows and fields of the forms.
 * No inline handlers anywhere, so a strict Content-Security-Policy can apply. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  /* Menus built on <details>: one open at a time, closed by Escape or a click elsewhere. */
  function closeMenus(except) {
    document.querySelectorAll("details[data-dismissable][open]").forEach(function (d) {
      if (d !== except) d.open = false;
    });
  }
  document.addEventListener("click", function (event) {
    var inside = event.target.closest("details[data-dismissable]");
    closeMenus(inside);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = document.querySelector("details[data-dismissable][open]");
    if (open) {
      open.open = false;
      var summary = open.querySelector("summary");
      if (summary) summary.focus();
    }
  });

  /* The page's one <dialog>: htmx swaps a fragment into it, then we show it.
   * On close, focus goes back to what opened it (the menu's button when the
   * link sat in a menu that is now closed). */
  function modal() { return document.getElementById("modal"); }
  var opener = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "modal-content") return;
    var elt = event.detail.elt;
    var menu = elt.closest("details");
    opener = menu ? menu.querySelector("summary") : elt;
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "modal-content") return;
    closeMenus(null);
    var dialog = modal();
    if (!dialog.open) dialog.showModal();
    var first = target.querySelector("input:not([type=hidden]):not([readonly]), select, textarea, button");
    if (first) first.focus();
  });
  /* After a fragment swap, bring its outcome (saved, or what is wrong) into view. */
  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail.elt;
    if (!elt || elt === document.body || !elt.querySelector) return;
    var alert = elt.querySelector(".alert, .errorlist");
    if (alert) alert.scrollIntoView({block: "nearest"});
  });

  ready(function () {
    var dialog = modal();
    if (!dialog) return;
    dialog.addEventListener("close", function () {
      // Nothing secret should stay in the DOM once the dialog is closed.
      document.getElementById("modal-content").replaceChildren();
      if (opener && document.contains(opener)) opener.focus();
      opener = null;
    });
    // A click on the backdrop (the dialog element itself, outside its box) closes it.
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) dialog.close();
    });
  });
  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (!closer) return;
    var dialog = closer.closest("dialog");
    if (dialog) {
      event.preventDefault();
      dialog.close();
    }
  });

  /* Copy buttons: data-copy="<id of a readonly input>". */
  function copyStatus(id, ok) {
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    if (!status) return;
    status.textContent = ok ? (document.body.dataset.copied || "Copied.") :
      (document.body.dataset.copyFailed || "Press Ctrl+C to copy.");
  }
  function copyFallback(input) {
    input.focus();
    input.select();
    try {
      return document.execCommand("copy");
    } catch (e) {
      return false;
    }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var id = button.getAttribute("data-copy");
    var input = document.getElementById(id);
    if (!input) return;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(
        function () { copyStatus(id, true); },
        function () { copyStatus(id, copyFallback(input)); }
      );
    } else {
      copyStatus(id, copyFallback(input));
    }
  });

  /* Request header rows: add from the <template>, remove a row. */
  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-row]");
    if (add) {
      var group = add.closest("[data-header-rows]");
      var template = group.querySelector("template[data-row-template]");
      var row = template.content.firstElementChild.cloneNode(true);
      group.querySelector("[data-rows]").appendChild(row);
      row.querySelector("input").focus();
      return;
    }
    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      var rowToRemove = remove.closest(".header-row");
      var rows = rowToRemove.parentElement;
      var focusAfter = rows.closest("[data-header-rows]").querySelector("[data-add-row]");
      if (rows.children.length > 1) {
        rowToRemove.remove();
      } else {
        rowToRemove.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      }
      focusAfter.focus();
    }
  });

  /* Add User: a robot asks for a username and an application name only. */
  function syncAccountType(form) {
    var select = form.querySelector('select[name="account_type"]');
    if (!select) return;
    var isRobot = select.value === "robot";
    form.querySelectorAll("fieldset[data-account-group]").forEach(function (fieldset) {
      var show = (fieldset.dataset.accountGroup === "robot") === isRobot;
      fieldset.hidden = !show;
      fieldset.disabled = !show;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches('select[name="account_type"]')) {
      syncAccountType(event.target.closest("form"));
    }
  });
  ready(function () {
    document.querySelectorAll("form[data-user-form]").forEach(syncAccountType);
  });
})();
