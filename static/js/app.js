/* Page behaviour wired by data attributes. Templates carry no inline script or
   on* handler: the Content-Security-Policy runs scripts from this site only.
   Listeners sit on the document, so content swapped in by htmx works too.
   - form[data-confirm="..."]: asks before the form is submitted.
   - select[data-autosubmit]: submits its form when changed (the MSP switcher).
   - input[data-select-all="name"]: checks or clears the checkboxes of that name in its table.
   - [data-print]: prints the page.
   - .table-wrap / .card wider than the screen: a named scroll area the keyboard can reach.
   - [data-nav-toggle]: the Menu button that opens and closes the navigation on a phone.
   - htmx requests that fail say so where the user acted (see "Failed requests" below). */
(function () {
  "use strict";
  if (window.mspApp) { return; }
  window.mspApp = true;

  // Capture phase: a refusal stops the submit before any other listener (htmx) sees it.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.hasAttribute("data-autosubmit") && field.form) {
      field.form.submit();
      return;
    }
    var name = field.getAttribute("data-select-all");
    if (name) {
      var scope = field.closest("table") || document;
      scope.querySelectorAll('input[type="checkbox"]').forEach(function (box) {
        if (box.name === name) { box.checked = field.checked; }
      });
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-dismiss-alert]")) {
      clearPageAlert();
      return;
    }
    if (event.target.closest && event.target.closest("[data-print]")) {
      event.preventDefault();
      window.print();
    }
  });

  // ---- Failed requests -------------------------------------------------------------
  // A form answered with its errors (400 or 422 with an HTML fragment) is swapped in like
  // a success, so the errors show on their fields. Every other failure (refused, not
  // found, server error, timeout, offline, logged out) leaves the page as it is and says
  // so next to the element the user acted on and in the page alert (an aria-live region).

  function contentType(xhr) {
    return (xhr.getResponseHeader("Content-Type") || "").toLowerCase();
  }

  function isFragment(xhr) {
    if (contentType(xhr).indexOf("text/html") !== 0) { return false; }
    var start = (xhr.responseText || "").replace(/^\s+/, "").slice(0, 20).toLowerCase();
    return start !== "" && start.indexOf("<!doctype") !== 0 && start.indexOf("<html") !== 0;
  }

  function loggedOut(xhr) {
    var url = xhr.responseURL || "";
    return url.indexOf("/login/") !== -1 && window.location.pathname.indexOf("/login/") === -1;
  }

  // The reason the server gave: a plain-text body, a JSON "detail", or the element an
  // error page marks with data-error-message.
  function serverReason(xhr) {
    var type = contentType(xhr);
    var body = xhr.responseText || "";
    if (type.indexOf("text/plain") === 0) { return body.trim().slice(0, 400); }
    if (type.indexOf("application/json") === 0) {
      try {
        var data = JSON.parse(body);
        if (data && typeof data.detail === "string") { return data.detail; }
      } catch (ignored) { /* not JSON after all */ }
      return "";
    }
    if (type.indexOf("text/html") === 0 && window.DOMParser) {
      var doc = new window.DOMParser().parseFromString(body, "text/html");
      var marked = doc.querySelector("[data-error-message]");
      if (marked) { return marked.textContent.replace(/\s+/g, " ").trim(); }
    }
    return "";
  }

  function statusText(status) {
    if (status === 403) { return "Not allowed: your role cannot do this, or your session has ended. Reload the page."; }
    if (status === 404) { return "Not found: it may have been deleted meanwhile. Reload the page."; }
    if (status === 413) { return "Too large to send."; }
    if (status === 429) { return "Too many requests: wait a moment, then try again."; }
    if (status >= 500) { return "The server failed (error " + status + "). Try again; if it keeps failing, reload the page."; }
    return "The request was refused (error " + status + ").";
  }

  var alertOwner = null;
  var notes = typeof WeakMap === "function" ? new WeakMap() : null;

  function clearNote(elt) {
    var note = notes && elt && notes.get(elt);
    if (note) {
      if (note.parentNode) { note.parentNode.removeChild(note); }
      notes["delete"](elt);
    }
  }

  function clearPageAlert() {
    var region = document.getElementById("request-alert");
    if (region) { region.textContent = ""; }
    alertOwner = null;
  }

  function showFailure(elt, message) {
    if (elt && elt.isConnected && elt !== document.body && notes) {
      var note = notes.get(elt);
      if (!note || !note.isConnected) {
        note = document.createElement("div");
        note.className = "request-error";
        elt.insertAdjacentElement("afterend", note);
        notes.set(elt, note);
      }
      note.textContent = message;
    }
    var region = document.getElementById("request-alert");
    // The same failure again (a poll that keeps failing) is not announced again.
    if (region && region.firstChild && region.firstChild.textContent !== message) {
      region.textContent = "";
    }
    alertOwner = elt;
    if (region && !region.firstChild) {
      var text = document.createElement("span");
      text.textContent = message;
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "btn btn-sm";
      dismiss.setAttribute("data-dismiss-alert", "");
      dismiss.textContent = "Dismiss";
      region.appendChild(text);
      region.appendChild(dismiss);
    }
    // A checkbox the server did not take back shows its state before the click.
    if (elt && elt.type === "checkbox" && elt.hasAttribute("data-hx-toggled")) {
      elt.checked = !elt.checked;
    }
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    clearNote(elt);
    if (elt && elt.type === "checkbox") { elt.setAttribute("data-hx-toggled", ""); }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.removeAttribute) {
      // Later than the failure events: htmx fires sendError and timeout after afterRequest.
      window.setTimeout(function () { elt.removeAttribute("data-hx-toggled"); }, 0);
    }
  });

  var fixTarget = null;

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var xhr = detail.xhr;
    if (loggedOut(xhr)) {
      detail.shouldSwap = false;
      detail.isError = false;
      showFailure(detail.requestConfig && detail.requestConfig.elt,
        "Your session has ended: reload the page and log in again. Nothing was saved.");
      return;
    }
    if ((xhr.status === 400 || xhr.status === 422) && isFragment(xhr)) {
      detail.shouldSwap = true;
      detail.isError = false;
      fixTarget = detail.target && detail.target.id ? detail.target.id : "";
    }
    // A retry that worked takes back the alert its failure raised (here, before the swap
    // can take the element out of the page).
    if (!detail.isError && alertOwner && detail.requestConfig &&
        detail.requestConfig.elt === alertOwner) {
      clearPageAlert();
    }
  });

  // After a form's errors are swapped in, the first field at fault gets the focus.
  document.addEventListener("htmx:afterSettle", function () {
    if (fixTarget === null) { return; }
    var scope = (fixTarget && document.getElementById(fixTarget)) || document;
    fixTarget = null;
    var field = scope.querySelector('[aria-invalid="true"]');
    if (field && typeof field.focus === "function") { field.focus(); }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    showFailure(event.detail.elt, serverReason(xhr) || statusText(xhr.status));
  });

  document.addEventListener("htmx:sendError", function (event) {
    showFailure(event.detail.elt,
      "The server could not be reached: check the connection, then try again.");
  });

  document.addEventListener("htmx:timeout", function (event) {
    showFailure(event.detail.elt,
      "The server took too long to answer. Reload the page to see whether it was saved.");
  });

  document.addEventListener("htmx:swapError", function (event) {
    showFailure(event.detail.elt, "The answer could not be shown: reload the page.");
  });

  // ---- Scroll areas ------------------------------------------------------------------
  // A table wider than its card scrolls inside it. Such an area takes the keyboard focus
  // (the arrow keys scroll it) and is named after its table for screen readers; one that
  // fits again gives both back.

  // ---- The navigation on a phone --------------------------------------------------
  // The Menu button opens and closes the links (aria-expanded); Escape closes them and
  // gives the focus back to the button.
  function setNavOpen(button, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-nav-toggle]");
    if (button) { setNavOpen(button, button.getAttribute("aria-expanded") !== "true"); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var button = document.querySelector('[data-nav-toggle][aria-expanded="true"]');
    if (button) {
      setNavOpen(button, false);
      button.focus();
    }
  });

  var SCROLL_AREAS = ".table-wrap, .card";

  function scrollAreaName(area) {
    var caption = area.querySelector("caption");
    if (caption && caption.textContent.trim()) { return caption.textContent.trim(); }
    var heading = area.querySelector("h2, h3");
    for (var prev = area.previousElementSibling; !heading && prev; prev = prev.previousElementSibling) {
      if (/^H[1-3]$/.test(prev.tagName)) { heading = prev; }
    }
    return heading ? heading.textContent.replace(/\s+/g, " ").trim() : "Table";
  }

  function markScrollAreas() {
    document.querySelectorAll(SCROLL_AREAS).forEach(function (area) {
      var scrolls = area.scrollWidth > area.clientWidth + 1;
      var marked = area.hasAttribute("data-scroll-area");
      if (scrolls && !marked && !area.hasAttribute("tabindex")) {
        area.setAttribute("data-scroll-area", "");
        area.setAttribute("tabindex", "0");
        area.setAttribute("role", "region");
        area.setAttribute("aria-label", scrollAreaName(area) + " (scrolls sideways)");
      } else if (!scrolls && marked) {
        ["data-scroll-area", "tabindex", "role", "aria-label"].forEach(function (name) {
          area.removeAttribute(name);
        });
      }
    });
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(markScrollAreas, 150);
  });
  document.addEventListener("htmx:afterSettle", markScrollAreas);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", markScrollAreas);
  } else {
    markScrollAreas();
  }
})();
