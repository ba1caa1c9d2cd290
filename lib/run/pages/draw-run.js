// The run page's charts, drawn in the browser with Observable Plot from the page's JSON block
// (lib/run/pages/run-page.ts prepares it: seconds since the run started, rows, colours' names).
// Each counted mark has a class (phase, step, job, finished, queue): the browser tests count them.
/* global Plot, data, width, show */
;(function () {
  const marginLeft = 130
  const seconds = 'seconds since the run started →'

  const fmt = (s) => s.toFixed(s < 10 ? 2 : 1) + ' s'

  show('phases', () =>
    Plot.plot({
      width,
      marginLeft,
      marginRight: 60,
      height: 50 + data.phaseOrder.length * 30,
      x: { label: seconds, grid: true },
      y: { domain: data.phaseOrder, label: null },
      color: { domain: ['ok', 'failed', 'interrupted'], range: ['#2da44e', '#cf222e', '#bf8700'], legend: true },
      marks: [
        Plot.barX(data.phases, {
          x1: 'start',
          x2: 'end',
          y: 'label',
          fill: 'status',
          insetBottom: 10,
          className: 'phase',
          title: (d) => d.label + ': ' + d.status + ', ' + fmt(d.end - d.start),
        }),
        // Steps in two greys, one after the other (constant fills: no colour scale)
        ...[0, 1].map((odd) =>
          Plot.barX(
            data.steps.filter((d) => d.index % 2 === odd),
            {
              x1: 'start',
              x2: 'end',
              y: 'phase',
              fill: odd ? '#afb8c1' : '#57606a',
              insetTop: 22,
              className: 'step',
              title: (d) => d.text + ' (' + fmt(d.end - d.start) + ')',
            },
          ),
        ),
        Plot.text(data.phases, {
          x: 'end',
          y: 'label',
          text: (d) => fmt(d.end - d.start),
          textAnchor: 'start',
          dx: 4,
          dy: -5,
        }),
      ],
    }),
  )

  const w = data.work
  if (!w) return
  const x = { domain: w.domain, label: seconds, grid: true }
  const testWindow = Plot.ruleX(w.test, { stroke: '#bf8700', strokeDasharray: '4,3' })
  const rowPx = w.rows > 300 ? 2 : w.rows > 120 ? 4 : 7

  show('jobs', () =>
    Plot.plot({
      width,
      marginLeft,
      height: 60 + Math.max(w.rows, 4) * rowPx,
      x,
      y: { domain: [0, Math.max(w.rows, 1)], reverse: true, axis: null },
      color: { type: 'ordinal', scheme: 'tableau10', legend: true },
      marks: [
        Plot.ruleY(w.groups.slice(1), { y: 'first', stroke: '#d0d7de' }),
        Plot.rect(w.jobs, {
          x1: 'start',
          x2: 'end',
          y1: 'row',
          y2: (d) => d.row + 1,
          insetTop: rowPx > 3 ? 1 : 0,
          fill: 'kind',
          className: 'job',
          title: 'title',
        }),
        Plot.text(w.groups, {
          y: 'mid',
          text: 'label',
          frameAnchor: 'left',
          textAnchor: 'end',
          dx: -6,
          title: 'title',
        }),
        testWindow,
      ],
    }),
  )

  show('finished', () =>
    Plot.plot({
      width,
      marginLeft,
      height: 150,
      x,
      y: { label: 'jobs ended', grid: true },
      marks: [
        Plot.rectY(w.finished, {
          x1: 'at',
          x2: (d) => d.at + 1,
          y: 'n',
          fill: '#0969da',
          insetLeft: 0.5,
          insetRight: 0.5,
          className: 'finished',
          title: (d) => d.n + ' jobs ended in second ' + d.at,
        }),
        Plot.ruleY([0]),
        testWindow,
      ],
    }),
  )

  if (w.queue)
    show('queue', () =>
      Plot.plot({
        width,
        marginLeft,
        height: 150,
        x,
        y: { label: 'messages waiting', grid: true, domain: [0, Math.max(4, ...w.queue.map((q) => q.length))] },
        marks: [
          Plot.lineY(w.queue, { x: 'at', y: 'length', curve: 'step-after', stroke: '#8250df' }),
          Plot.dot(w.queue, {
            x: 'at',
            y: 'length',
            r: 2,
            fill: '#8250df',
            className: 'queue',
            title: (d) => d.length + ' waiting at ' + fmt(d.at),
          }),
          Plot.ruleY([0]),
          testWindow,
        ],
      }),
    )
})()
