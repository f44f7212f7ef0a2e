// Copy buttons: <button data-copy="ID" hidden> copies the value of the field with that id.
// Without JavaScript the buttons stay hidden and the readonly field can be copied by hand.
"use strict";
(function () {
  function copied(button, status, text) {
    if (status) { status.textContent = text; }
    button.textContent = "Copied";
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    var status = button.closest(".stack") && button.closest(".stack").querySelector(".copy-status");
    button.hidden = false;
    button.addEventListener("click", function () {
      field.select();
      var done = function () { copied(button, status, "Copied to the clipboard."); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          if (document.execCommand("copy")) { done(); }
        });
      } else if (document.execCommand("copy")) {
        done();
      } else if (status) {
        status.textContent = "Select the secret and copy it with your keyboard.";
      }
    });
  });
})();
