// "Copy" buttons: <button data-copy="ID" hidden> copies the value of the field with that id.
// Without JavaScript the buttons stay hidden and the readonly field can be copied by hand.
"use strict";
(function () {
  function copied(button, status, text) {
    button.textContent = text;
    if (status) {
      status.textContent = text === "Copied" ? "The secret is on your clipboard." : "Select the secret and copy it by hand.";
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
          function () { copied(button, status, "Copied"); },
          function () { copied(button, status, "Copy failed"); }
        );
      } else {
        var ok = false;
        try {
          ok = document.execCommand("copy");
        } catch (e) {
          ok = false;
        }
        copied(button, status, ok ? "Copied" : "Copy failed");
      }
    });
  });
})();
