/* The signer's page: approve the clauses, send the SMS code (and show the
 * certificate it unlocks), draw the signature, sign or decline. Each action is one small JSON call to the
 * session-scoped endpoints next to the page; their answers follow the ticket
 * API (CONTRACT §7): {"status", "redirect"} or the {"meta": {...}} error body.
 * No inline handlers: everything is bound here. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) return meta.content;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) { return values[key]; });
  }

  /* POST `body` as JSON; resolves to {status, data} whatever the status. */
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": csrfToken()
      },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      if (response.status === 204) return {status: 204, data: null};
      return response.json().then(
        function (data) { return {status: response.status, data: data}; },
        function () { return {status: response.status, data: null}; }
      );
    });
  }

  function errorMessage(result, fallback) {
    var meta = result && result.data && result.data.meta;
    if (meta && meta.error_message) {
      // "field : reason" -> the reason is what a person reads.
      var parts = meta.error_message.split(" : ");
      return parts[parts.length - 1];
    }
    return fallback;
  }

  function show(box, message) {
    box.textContent = message;
    box.hidden = !message;
    if (message) box.scrollIntoView({block: "nearest"});
  }

  function busy(button, on) {
    if (!button) return;
    button.disabled = on;
    if (on) button.setAttribute("aria-busy", "true");
    else button.removeAttribute("aria-busy");
  }

  /* States where the page itself has changed (signed elsewhere, locked,
   * expired, cancelled): reload and let the server show the right page. */
  var FINAL_STATUSES = [403, 409, 410];

  function finish(result) {
    var target = result.data && result.data.redirect;
    window.location.assign(target || window.location.href);
  }

  /* --- the drawing pad ------------------------------------------------------ */

  function setUpPad(form) {
    var canvas = form.querySelector("[data-pad]");
    if (!canvas || typeof window.SignaturePad !== "function") return null;
    var pad = new window.SignaturePad(canvas, {
      minWidth: 0.8,
      maxWidth: 2.6,
      penColor: "#10164a",
      backgroundColor: "rgba(0,0,0,0)"
    });
    // Strokes taken back by Undo, most recent last, for Redo; a new stroke
    // or Clear forgets them.
    var undone = [];
    var undoButton = form.querySelector("[data-pad-undo]");
    var redoButton = form.querySelector("[data-pad-redo]");
    function refreshButtons() {
      undoButton.disabled = pad.toData().length === 0;
      redoButton.disabled = undone.length === 0;
    }
    function resize() {
      // The canvas' pixels follow its CSS size and the screen's density, so
      // strokes are not blurred or offset; the drawing is kept across resizes.
      var ratio = Math.max(window.devicePixelRatio || 1, 1);
      var data = pad.toData();
      canvas.width = canvas.offsetWidth * ratio;
      canvas.height = canvas.offsetHeight * ratio;
      canvas.getContext("2d").scale(ratio, ratio);
      pad.clear();
      if (data.length) pad.fromData(data);
    }
    window.addEventListener("resize", resize);
    resize();
    pad.addEventListener("beginStroke", function () {
      var errorBox = form.querySelector("[data-sign-error]");
      if (errorBox) show(errorBox, "");
      undone = [];
    });
    pad.addEventListener("endStroke", refreshButtons);
    form.querySelector("[data-pad-clear]").addEventListener("click", function () {
      pad.clear();
      undone = [];
      refreshButtons();
    });
    undoButton.addEventListener("click", function () {
      var strokes = pad.toData();
      if (strokes.length) {
        undone.push(strokes.pop());
        pad.fromData(strokes);
      }
      refreshButtons();
    });
    redoButton.addEventListener("click", function () {
      if (undone.length) {
        var strokes = pad.toData();
        strokes.push(undone.pop());
        pad.fromData(strokes);
      }
      refreshButtons();
    });
    refreshButtons();
    return pad;
  }

  /* --- the SMS code --------------------------------------------------------- */

  function setUpOtp(form, errorBox) {
    var send = form.querySelector("[data-otp-send]");
    if (!send) return;
    var status = form.querySelector("[data-otp-status]");
    var cooldown = parseInt(form.dataset.cooldown, 10) || 60;
    var sendLabel = send.textContent;
    var timer = null;

    function tick(until) {
      var left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(timer);
        timer = null;
        send.disabled = false;
        send.textContent = form.dataset.msgResend || sendLabel;
        return;
      }
      send.textContent = format(form.dataset.msgResendIn, {seconds: left});
    }

    send.addEventListener("click", function () {
      show(errorBox, "");
      busy(send, true);
      post(form.dataset.otpUrl).then(function (result) {
        send.removeAttribute("aria-busy");
        if (result.status === 204 || result.status === 200) {
          // Advanced and qualified: the certificate, issued on this first use.
          showCertificate(form, result.data && result.data.certificate_html);
          status.textContent = form.dataset.msgSent;
          var until = Date.now() + cooldown * 1000;
          send.disabled = true;
          tick(until);
          timer = setInterval(function () { tick(until); }, 1000);
          form.querySelector("#otp-code").focus();
          return;
        }
        send.disabled = false;
        if (FINAL_STATUSES.indexOf(result.status) >= 0) return finish({data: null});
        show(errorBox, errorMessage(result, form.dataset.msgFailed));
      }, function () {
        busy(send, false);
        show(errorBox, form.dataset.msgOffline);
      });
    });
  }

  function showCertificate(form, html) {
    var card = form.querySelector("[data-certificate]");
    if (!card || !html) return;
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("[data-certificate]");
    if (fresh) card.replaceWith(fresh);
  }

  function updateAttempts(form, result) {
    var attempts = form.querySelector("[data-otp-attempts]");
    if (!attempts) return;
    var meta = result.data && result.data.meta;
    var left = meta && typeof meta.attempts_left === "number" ?
      meta.attempts_left : Math.max(parseInt(attempts.dataset.otpAttempts, 10) - 1, 0);
    attempts.dataset.otpAttempts = String(left);
    attempts.textContent = format(form.dataset.msgAttempts, {count: left});
  }

  /* --- sign ------------------------------------------------------------------ */

  function setUpSign(form) {
    var errorBox = form.querySelector("[data-sign-error]");
    var submit = form.querySelector("[data-sign-submit]");
    var pad = form.dataset.type === "grapho" ? setUpPad(form) : null;
    setUpOtp(form, errorBox);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      show(errorBox, "");
      var missing = form.querySelector("input[data-required]:not(:checked)");
      if (missing) {
        show(errorBox, form.dataset.msgClauses);
        missing.focus();
        return;
      }
      var body = {
        accepted_clauses: Array.prototype.map.call(
          form.querySelectorAll('input[name="accepted_clauses"]:checked'),
          function (input) { return input.value; }
        )
      };
      var code = form.querySelector("#otp-code");
      if (code) {
        var value = code.value.replace(/\s+/g, "");
        if (!/^\d{6}$/.test(value)) {
          show(errorBox, form.dataset.msgCode);
          code.setAttribute("aria-invalid", "true");
          code.focus();
          return;
        }
        code.removeAttribute("aria-invalid");
        body.otp = value;
      }
      if (form.dataset.type === "grapho") {
        if (!pad || pad.isEmpty()) {
          show(errorBox, form.dataset.msgDrawing);
          var canvas = form.querySelector("[data-pad]");
          if (canvas) canvas.focus();
          return;
        }
        body.graphometric = {image: pad.toDataURL("image/png")};
      }
      var label = submit.textContent;
      busy(submit, true);
      submit.textContent = form.dataset.msgSigning;
      post(form.dataset.signUrl, body).then(function (result) {
        if (result.status === 200) return finish(result);
        busy(submit, false);
        submit.textContent = label;
        if (result.status === 401) updateAttempts(form, result);
        if (FINAL_STATUSES.indexOf(result.status) >= 0) return finish({data: null});
        show(errorBox, errorMessage(result, form.dataset.msgFailed));
        if (code && (result.status === 401 || result.status === 429)) code.focus();
      }, function () {
        busy(submit, false);
        submit.textContent = label;
        show(errorBox, form.dataset.msgOffline);
      });
    });
  }

  /* --- decline --------------------------------------------------------------- */

  function setUpDecline() {
    var open = document.querySelector("[data-decline-open]");
    var dialog = document.getElementById("decline-dialog");
    if (!open || !dialog) return;
    var form = dialog.querySelector("[data-decline-form]");
    var reason = form.querySelector("textarea");
    var errorBox = form.querySelector("[data-decline-error]");

    reason.addEventListener("input", function () {
      reason.removeAttribute("aria-invalid");
      show(errorBox, "");
    });
    open.addEventListener("click", function () {
      show(errorBox, "");
      dialog.showModal();
      reason.focus();
    });
    // Escape closes a modal <dialog> natively; focus goes back to the opener.
    dialog.addEventListener("close", function () { open.focus(); });
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) dialog.close();
    });
    form.querySelector("[data-close-dialog]").addEventListener("click", function (event) {
      event.preventDefault();
      dialog.close();
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = reason.value.trim();
      if (!text) {
        show(errorBox, form.dataset.msgReason);
        reason.setAttribute("aria-invalid", "true");
        reason.focus();
        return;
      }
      reason.removeAttribute("aria-invalid");
      var button = form.querySelector('button[type="submit"]');
      busy(button, true);
      post(form.dataset.declineUrl, {reason: text}).then(function (result) {
        if (result.status === 200) return finish(result);
        busy(button, false);
        if (FINAL_STATUSES.indexOf(result.status) >= 0 && result.status !== 403) {
          return finish({data: null});
        }
        show(errorBox, errorMessage(result, ""));
      }, function () {
        busy(button, false);
        show(errorBox, document.getElementById("sign-form").dataset.msgOffline);
      });
    });
  }

  ready(function () {
    var form = document.getElementById("sign-form");
    if (form) setUpSign(form);
    setUpDecline();
  });
})();
