// What both pages' drawing scripts share, put before each of them in the page's one script: the
// page's data (its JSON block), the charts' width, and the placing of a chart.
/* exported data, width, show */
'use strict'
const data = JSON.parse(document.getElementById('data').textContent)
const width = Math.max(640, Math.min(1100, document.body.clientWidth - 32))

/** Puts a chart in its place; a chart that cannot be drawn says so there (and on the console). */
function show(id, make) {
  const el = document.getElementById(id)
  if (!el) return
  try {
    el.append(make())
  } catch (e) {
    el.textContent = 'this chart could not be drawn: ' + e.message
    console.error(e)
  }
}
