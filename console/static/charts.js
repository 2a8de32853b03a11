// keyward console: usage charts. Each <figure data-chart="ID"> names a
// <script type="application/json" id="ID"> block (data, never executed, so the CSP holds) with
// bucket starts in Unix seconds and one series of counts per verification code; uPlot draws it.
// Without script the totals table beside the charts says the same in numbers.
(function () {
	"use strict";
	// One colour per code, the same on every chart: valid green, refusals warm or grey.
	var colours = {
		VALID: "#1f7a3a", NOT_FOUND: "#8a8f98", EXPIRED: "#c77800", NOT_YET_VALID: "#7b61c9",
		REVOKED: "#b3261e", DISABLED: "#5d6677", FORBIDDEN: "#d14d8b", RATE_LIMITED: "#2656c9",
		USAGE_EXCEEDED: "#0a8a8a"
	};

	function draw(fig) {
		var block = document.getElementById(fig.getAttribute("data-chart"));
		if (!block || typeof uPlot === "undefined") { return; }
		var d = JSON.parse(block.textContent);
		var data = [d.x];
		var series = [{}];
		d.series.forEach(function (s) {
			data.push(s.values);
			var c = colours[s.code] || "#333";
			series.push({ label: s.code, stroke: c, fill: c + "22", width: 2, points: { show: d.x.length <= 31 } });
		});
		var width = Math.max(320, Math.min(560, fig.parentNode.clientWidth / 2 - 16));
		var opts = {
			width: width, height: 200, series: series,
			scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(4, max)]; } } },
			axes: [{}, { size: 40 }],
			legend: { live: false }
		};
		fig.classList.add("drawn");
		new uPlot(opts, data, fig);
	}

	document.addEventListener("DOMContentLoaded", function () {
		document.querySelectorAll("figure[data-chart]").forEach(draw);
	});
})();
