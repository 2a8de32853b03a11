// keyward console: progressive enhancement only. Every page works without this file; with it,
// a secret gets a copy button, the secret page leaves no way back to itself in the history, and
// the create form shows the fields of the chosen type.
(function () {
	"use strict";
	document.documentElement.classList.add("js");

	document.addEventListener("DOMContentLoaded", function () {
		// Copy buttons: data-copy names the element whose text is copied.
		document.querySelectorAll("button[data-copy]").forEach(function (b) {
			b.addEventListener("click", function () {
				var el = document.getElementById(b.getAttribute("data-copy"));
				if (!el || !navigator.clipboard) { return; }
				navigator.clipboard.writeText(el.textContent.trim()).then(function () {
					b.textContent = "Copied";
				}, function () {
					b.textContent = "Select and copy by hand";
				});
			});
		});

		// The page showing a secret answers a POST; its history entry is replaced by the
		// credential's page, so that reloading or coming back shows that page, not a resubmission.
		var back = document.querySelector("[data-replace-history]");
		if (back && window.history && history.replaceState) {
			history.replaceState(null, "", back.getAttribute("data-replace-history"));
		}

		// The create form: show the fieldsets of the chosen type only.
		var type = document.getElementById("type");
		if (type) {
			var sync = function () {
				document.querySelectorAll("[data-for-type]").forEach(function (fs) {
					var on = fs.getAttribute("data-for-type").split(" ").indexOf(type.value) >= 0;
					fs.hidden = !on;
					fs.disabled = !on;
				});
			};
			type.addEventListener("change", sync);
			sync();
		}
	});
})();
