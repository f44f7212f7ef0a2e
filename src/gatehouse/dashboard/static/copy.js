// "Copy" buttons: <button data-copy="ID" hidden> copies the value of the field with that id, and
// says so in the page's status line ([data-copy-status]).
// Without JavaScript the buttons stay hidden and the readonly field can be copied by hand.
"use strict";
(function () {
  function copied(button, status, ok) {
    button.textContent = ok ? "Copied" : "Copy failed";
    if (status) {
      status.textContent = ok
        ? "Copied to the clipboard."
        : "Select the secret and copy it with your keyboard.";
    }
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) {
      return;
    }
    var status = document.querySelector("[data-copy-status]");
    button.hidden = false;
    button.addEventListener("click", function () {
      field.focus();
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(
          function () { copied(button, status, true); },
          function () { copied(button, status, document.execCommand("copy")); }
        );
      } else {
        var ok = false;
        try {
          ok = document.execCommand("copy");
        } catch (e) {
          ok = false;
        }
        copied(button, status, ok);
      }
    });
  });
})();
