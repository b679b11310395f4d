// gallery sample script (served by berth from STATIC_URL)
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  document.body.classList.add("js-ready");
  var photos = document.querySelectorAll(".photo");
  document.title = "Gallery (" + photos.length + ")";
});
