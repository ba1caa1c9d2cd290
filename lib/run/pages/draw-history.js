// The history page's charts, drawn in the browser with Observable Plot from the page's JSON block
// (lib/run/pages/history.ts prepares it). A run is one index on x; its mark above the bar has the class
// "run" (the browser tests count them), its segments "segment".
/* global Plot, data, width, show */
;(function () {
  const v = data
  const n = v.runs.length
  if (!n) return

  const top = Math.max(1, ...v.runs.map((r) => r.total)) * 1.15
  const every = Math.ceil(n / 24)
  const x = {
    domain: [-0.6, n - 0.4],
    ticks: v.runs.filter((r) => r.i % every === 0).map((r) => r.i),
    tickFormat: (i) => (v.runs[i] ? v.runs[i].label : ''),
    tickRotate: n > 8 ? -30 : 0,
    label: null,
  }
  const verdict = (passed) =>
    Plot.dot(
      v.runs.filter((r) => r.passed === passed),
      {
        x: 'i',
        y: (r) => r.total + top * 0.04,
        r: 5,
        fill: passed ? '#2da44e' : '#cf222e',
        className: 'run',
        title: (r) => r.id + ': ' + r.verdict + ', ' + r.total.toFixed(1) + ' s in phases',
      },
    )

  show('runs', () =>
    Plot.plot({
      width,
      height: 340,
      marginLeft: 50,
      marginRight: 20,
      marginBottom: n > 8 ? 70 : 40,
      x,
      y: { domain: [0, top], label: '↑ seconds', grid: true },
      color: { domain: v.phaseOrder, scheme: 'tableau10', legend: true },
      marks: [
        Plot.rect(v.series, { x1: (s) => s.first - 0.48, x2: (s) => s.last + 0.48, y1: 0, y2: top, fill: '#eaeef2' }),
        Plot.text(v.series, { x: (s) => (s.first + s.last) / 2, y: top, dy: 8, text: 'label', fill: '#57606a' }),
        Plot.rect(v.segments, {
          x1: (d) => d.i - 0.38,
          x2: (d) => d.i + 0.38,
          y1: 'y1',
          y2: 'y2',
          fill: 'phase',
          className: 'segment',
          title: (d) => d.phase + ': ' + (d.y2 - d.y1).toFixed(2) + ' s',
        }),
        verdict(true),
        verdict(false),
        Plot.ruleY([0]),
      ],
    }),
  )

  const s = v.slowest
  if (s)
    show('slowest', () =>
      Plot.plot({
        width,
        height: 200,
        marginLeft: 50,
        marginRight: 20,
        marginBottom: n > 8 ? 70 : 40,
        x,
        y: { label: '↑ seconds in ' + s.phase, grid: true, zero: true },
        marks: [
          Plot.lineY(s.points, { x: 'i', y: 'seconds', stroke: '#57606a' }),
          ...[true, false].map((passed) =>
            Plot.dot(
              s.points.filter((p) => p.passed === passed),
              {
                x: 'i',
                y: 'seconds',
                r: 3.5,
                fill: passed ? '#2da44e' : '#cf222e',
                className: 'trend',
                title: (p) => v.runs[p.i].id + ': ' + p.seconds.toFixed(2) + ' s',
              },
            ),
          ),
        ],
      }),
    )
})()
