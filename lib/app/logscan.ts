// Turns an application log (JSON lines or text with tracebacks) into a short, readable list of its problems.

export interface LogEntry {
  level: string // ERROR, CRITICAL, FATAL, or 'TRACEBACK' for a bare traceback
  logger: string // logger name ('' when unknown)
  message: string // one line, whitespace collapsed
  exception: string // exception type, e.g. 'AttributeError' ('' when none)
  offset: number // byte offset of the entry's first line in the text
}

export interface Finding {
  level: string
  logger: string
  message: string
  exception: string
  count: number
  firstOffset: number
}

/** Longest message kept in an entry; a summary line cuts it shorter still. */
const MAX_MESSAGE = 500
const PROBLEM_LEVELS = new Set(['ERROR', 'CRITICAL', 'FATAL'])
const LEVEL_WORDS = new Set(['CRITICAL', 'FATAL', 'ERROR', 'WARNING', 'WARN', 'INFO', 'DEBUG', 'TRACE', 'NOTICE'])
/** Levels in text lines are upper case: "error" in a message is a word, "ERROR" in a header is a level. */
const TEXT_LEVEL = /\b(CRITICAL|FATAL|ERROR|WARNING|WARN|INFO|DEBUG|TRACE|NOTICE)\b/
/** Spelling of problem levels in JSON and logfmt, compared in lower case. */
const JSON_LEVELS: Record<string, string> = {
  error: 'ERROR',
  err: 'ERROR',
  critical: 'CRITICAL',
  crit: 'CRITICAL',
  fatal: 'FATAL',
}
const TRACEBACK = 'Traceback (most recent call last)'
const CHAINED = /^(During handling of the above exception|The above exception was the direct cause)/
/** The last line of a traceback: "ValueError: bad", "redis.exceptions.ConnectionError: ...", "KeyboardInterrupt". */
const EXCEPTION_LINE = /^([A-Za-z_][\w.]*)(?::[ \t]*(.*))?$/s
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g
const LOGGER_LIKE = /^[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*$/
const PROCESS_LIKE = /^(?:MainProcess|MainThread|(?:ForkPoolWorker|Process|Thread|Dummy)-\d+)$/

/** A text traceback being read: the entry it belongs to, and whether its exception line is still to come. */
interface OpenTraceback {
  entry: LogEntry
  attached: boolean
  prefix: string // e.g. "worker-1  | " when the log was captured through `docker compose logs`
  awaitingException: boolean
  chained: boolean // "During handling of the above exception…" seen: the next Traceback line belongs to this one
}

/** Problem entries (ERROR/CRITICAL/FATAL levels, and tracebacks not already attached to such an entry). */
export function scanLog(text: string | Buffer): LogEntry[] {
  const entries: LogEntry[] = []
  const scanner = new LogScanner((e) => entries.push(e))
  scanner.push(typeof text === 'string' ? Buffer.from(text, 'utf8') : text)
  scanner.end()
  return entries
}

/** A line longer than this is cut: a log without line ends must not fill the memory. */
const MAX_LINE = 1 << 20

/**
 * Reads a log as it streams by, in chunks of any size, in bounded memory: each problem entry is
 * handed on once it is complete (a traceback after a text line belongs to that line's entry).
 */
export class LogScanner {
  /** The entry a following traceback may still add to; handed on when the next one starts, or at the end. */
  private open: LogEntry | null = null
  /** A text problem line just read: a traceback right after it (only continuation lines between) belongs to it. */
  private attachTo: LogEntry | null = null
  private tb: OpenTraceback | null = null
  /** The end of the last chunk that was not a whole line yet, and where it starts. */
  private pending: Buffer = Buffer.alloc(0)
  private pendingAt = 0
  private started = false
  /** Where the first line starts when a BOM came before it (reported as 0); -1 once read. */
  private bomLine = -1

  constructor(private onEntry: (e: LogEntry) => void) {}

  /** A chunk of the log; `at` is the byte offset of its first byte (chunks come in order). */
  push(chunk: Buffer, at = this.pendingAt + this.pending.length) {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk
    let base = this.pending.length ? this.pendingAt : at
    if (!this.started) {
      this.started = true
      // A UTF-8 BOM at the start of the log is not text; the first line still counts as starting at 0.
      if (base === 0 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
        buf = buf.subarray(3)
        base = this.bomLine = 3
      }
    }
    // Split on the newline byte and decode line by line: a newline byte never occurs inside a multi-byte
    // UTF-8 character, so offsets are exact byte offsets, also where bytes are not UTF-8 (they become U+FFFD).
    let pos = 0
    for (let newline = buf.indexOf(10); newline !== -1; newline = buf.indexOf(10, pos)) {
      this.line(buf, pos, newline, base + pos)
      pos = newline + 1
    }
    if (buf.length - pos > MAX_LINE) {
      this.line(buf, pos, buf.length, base + pos)
      pos = buf.length
    }
    this.pending = Buffer.from(buf.subarray(pos))
    this.pendingAt = base + pos
  }

  /** The end of the log: the last line without a line end, and the entry still open. */
  end() {
    if (this.pending.length) this.line(this.pending, 0, this.pending.length, this.pendingAt)
    this.pending = Buffer.alloc(0)
    this.emit(null)
  }

  private line(buf: Buffer, start: number, end: number, at: number) {
    const stop = end > start && buf[end - 1] === 13 ? end - 1 : end
    this.feed(buf.toString('utf8', start, stop), at === this.bomLine ? 0 : at)
    this.bomLine = -1
  }

  private emit(next: LogEntry | null) {
    const done = this.open
    this.open = next
    if (!done) return
    if (done.level === 'TRACEBACK' && !done.exception && !done.message) done.message = `${TRACEBACK}:`
    this.onEntry(done)
  }

  /** One line without its line ending; `at` is the byte offset where it starts. */
  private feed(raw: string, at: number): void {
    const line = raw.includes('\x1b') ? raw.replace(ANSI, '') : raw
    if (this.tb) {
      if (continueTraceback(this.tb, line)) return
      this.tb = null
    }
    const trimmed = line.trimStart()
    if (trimmed === '') return
    if (trimmed.charCodeAt(0) === 123 /* { */) {
      const record = jsonRecord(trimmed)
      if (record !== undefined) {
        this.attachTo = null
        if (record) this.emit({ ...record, offset: at })
        return
      }
      // not JSON after all: read it as text
    }
    const prefix = tracebackPrefix(line)
    if (prefix !== null) {
      const entry = this.attachTo ?? { level: 'TRACEBACK', logger: '', message: '', exception: '', offset: at }
      if (!this.attachTo) this.emit(entry)
      this.tb = { entry, attached: this.attachTo !== null, prefix, awaitingException: true, chained: false }
      this.attachTo = null
      return
    }
    const header = textHeader(line)
    if (!header) return // a continuation line of a multi-line message
    this.attachTo = null
    if (!PROBLEM_LEVELS.has(header.level)) return
    const entry = { level: header.level, logger: header.logger, message: header.message, exception: '', offset: at }
    this.emit(entry)
    this.attachTo = entry
  }
}

/**
 * Where a traceback starts: '' for a line that is the header itself, the text before it for a `compose logs` prefix.
 */
function tracebackPrefix(line: string): string | null {
  const at = line.indexOf(TRACEBACK)
  if (at < 0) return null
  const before = line.slice(0, at)
  if (at === 0 || /^\s*(?:\+ Exception Group )?$/.test(before)) return ''
  return /^\S+\s*\|\s?$/.test(before) ? before : null
}

/** Feeds one line to an open traceback; false when the line is no longer part of it. */
function continueTraceback(tb: OpenTraceback, raw: string): boolean {
  let line = raw
  if (tb.prefix) {
    if (!line.startsWith(tb.prefix)) return line.trimEnd() === tb.prefix.trimEnd() // compose trims blank lines
    line = line.slice(tb.prefix.length)
  }
  if (line.trim() === '') return true
  const first = line.charCodeAt(0)
  if (first === 32 || first === 9) return true // frames, source lines, ^^^^ markers
  if (line.startsWith(TRACEBACK)) {
    if (!tb.chained && !tb.awaitingException) return false // a second, separate traceback
    tb.chained = false
    return (tb.awaitingException = true)
  }
  if (CHAINED.test(line)) return (tb.chained = true)
  if (!tb.awaitingException) return false
  // The first unindented line after the frames is the exception; with chained exceptions the last one wins.
  const m = EXCEPTION_LINE.exec(line)
  if (!m || LEVEL_WORDS.has(m[1])) return false // a new log record: the traceback was cut short
  tb.awaitingException = false
  tb.entry.exception = m[1]
  if (!tb.attached || !tb.entry.message) tb.entry.message = oneLine(m[2] ?? '')
  return true
}

type Problem = Omit<LogEntry, 'offset'>

/** A JSON log record: the problem it reports, null when it is no problem, undefined when the line is not JSON. */
function jsonRecord(trimmed: string): Problem | null | undefined {
  const body = trimmed.trimEnd()
  if (body.charCodeAt(body.length - 1) !== 125 /* } */) return undefined
  let record: unknown
  try {
    record = JSON.parse(body)
  } catch {
    return undefined
  }
  if (!record || typeof record !== 'object' || Array.isArray(record)) return undefined
  const r = record as Record<string, unknown>
  const rawLevel = r.level ?? r.levelname ?? r.severity
  const level = typeof rawLevel === 'string' ? JSON_LEVELS[rawLevel.toLowerCase()] : undefined
  if (!level) return null
  const logger = r.name ?? r.logger ?? r.logger_name
  const message = r.message ?? r.msg ?? r.event
  let exception = { type: '', message: '' }
  for (const field of [r.exc_info, r.exception, r.exc_text]) {
    exception = exceptionOf(field)
    if (exception.type) break
  }
  return {
    level,
    logger: typeof logger === 'string' ? logger : '',
    message:
      oneLine(
        message === undefined || message === null
          ? exception.message
          : typeof message === 'string'
            ? message
            : JSON.stringify(message),
      ) || oneLine(exception.message),
    exception: exception.type,
  }
}

/** Exception type and message from exc_info as a string, a list of lines, a (type, value, tb) triple, or an object. */
function exceptionOf(value: unknown): { type: string; message: string } {
  const none = { type: '', message: '' }
  if (typeof value === 'string') return fromTracebackText(value)
  if (Array.isArray(value)) {
    const items = value.map((v) => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v)))
    const cls = /^<class '([^']+)'>$/.exec(items[0] ?? '')
    if (cls) return { type: cls[1], message: items[1] ?? '' }
    return fromTracebackText(items.join('\n'))
  }
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>
    const type = o.type ?? o.class ?? o.exc_type ?? o.name
    const message = o.message ?? o.value ?? o.msg
    if (typeof type === 'string') return { type, message: typeof message === 'string' ? message : '' }
  }
  return none
}

function fromTracebackText(text: string): { type: string; message: string } {
  const lines = text.split(/\r?\n/)
  let start = 0
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i].trimStart().startsWith(TRACEBACK)) {
      start = i + 1
      break
    }
  }
  for (let i = start; i < lines.length; i++) {
    const line = lines[i]
    if (!line.trim() || /^\s/.test(line)) continue
    const cls = /^<class '([^']+)'>/.exec(line)
    if (cls) return { type: cls[1], message: '' }
    const m = EXCEPTION_LINE.exec(line)
    // "NoneType: None" is what Python prints for exc_info when there was no exception.
    if (!m || m[1] === 'NoneType') break
    return { type: m[1], message: m[2] ?? '' }
  }
  return { type: '', message: '' }
}

/** Level, logger and message of a text log line; null when the line names no level (a continuation line). */
function textHeader(line: string): { level: string; logger: string; message: string } | null {
  const m = TEXT_LEVEL.exec(line)
  const kv = line.indexOf('level=')
  if (kv >= 0 && (!m || m.index > kv)) {
    const logfmt = logfmtHeader(line)
    if (logfmt) return logfmt
  }
  if (!m) return null
  const level = m[1] === 'WARN' ? 'WARNING' : m[1]
  if (!PROBLEM_LEVELS.has(level)) return { level, logger: '', message: '' }
  const before = line.slice(0, m.index)
  const rest = line.slice(m.index + m[1].length)
  // The level is in a header only if what precedes it looks like one (timestamp, fields); otherwise the
  // whole line is the message ("Task failed: ERROR in step 3").
  if (!(before.trim() === '' || /^[\s[(]*\d/.test(before) || before.includes('|') || / - /.test(before))) {
    return { level, logger: '', message: oneLine(line) }
  }
  let logger = ''
  let message: string
  let parts: RegExpExecArray | null
  if (before.trim() === '' && (parts = /^:([A-Za-z_][\w.-]*):(.*)$/s.exec(rest))) {
    // Python's default format: ERROR:app.api:message
    ;[, logger, message] = parts
  } else if ((parts = /^\/[^\]\s]*\]\s?(.*)$/s.exec(rest))) {
    // Celery: [2025-01-01 12:00:00,123: ERROR/MainProcess] message
    message = parts[1]
  } else if (/^\s*\|/.test(rest)) {
    // ts | ERROR | host | MainProcess[7] | app.api | message: single-token fields, then the message
    const fields = rest.split('|').slice(1)
    let head = 0
    while (head < fields.length - 1 && /^\s*\S+\s*$/.test(fields[head])) head++
    logger = lastLoggerLike(fields.slice(0, head))
    message = fields.slice(head).join('|')
  } else {
    message = rest.replace(/^\s*[-:|\]]?\s*/, '')
  }
  if (!logger) logger = lastLoggerLike(before.split(/\s+-\s+|\||[\s[\]()]+/))
  return { level, logger, message: oneLine(message) }
}

/** time=... level=error logger=app msg="..." */
function logfmtHeader(line: string): { level: string; logger: string; message: string } | null {
  const lv = /(?:^|\s)level=("?)([A-Za-z]+)\1(?=\s|$)/.exec(line)
  if (!lv) return null
  const level = JSON_LEVELS[lv[2].toLowerCase()] ?? lv[2].toUpperCase()
  if (!PROBLEM_LEVELS.has(level)) return { level, logger: '', message: '' }
  const logger = /(?:^|\s)(?:logger|name)=("?)([^\s"]+)\1/.exec(line)?.[2] ?? ''
  const msg = /(?:^|\s)(?:msg|message)=(?:"((?:[^"\\]|\\.)*)"|(\S+))/.exec(line)
  return { level, logger, message: oneLine(msg ? (msg[1] ?? msg[2]).replace(/\\(.)/g, '$1') : line) }
}

function lastLoggerLike(fields: string[]): string {
  for (let i = fields.length - 1; i >= 0; i--) {
    const f = fields[i].trim().replace(/[:,]$/, '')
    if (LOGGER_LIKE.test(f) && !PROCESS_LIKE.test(f) && !LEVEL_WORDS.has(f)) return f
  }
  return ''
}

/** One line, whitespace collapsed, cut to MAX_MESSAGE characters. */
function oneLine(text: string): string {
  let s = text.length > 4 * MAX_MESSAGE ? text.slice(0, 4 * MAX_MESSAGE) : text
  if (/[^\S ]| {2}|[\x00-\x1f\x7f]/.test(s)) s = s.replace(/[\s\x00-\x1f\x7f]+/g, ' ')
  s = s.trim()
  return s.length > MAX_MESSAGE ? cut(s, MAX_MESSAGE) : s
}

/** At most max characters (code points), the last one '…' when something was cut. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text
  const chars = Array.from(text)
  return chars.length <= max ? text : chars.slice(0, Math.max(0, max - 1)).join('') + '…'
}

/** The message with its volatile parts (timestamps, uuids, hex ids, numbers) replaced, for grouping. */
function messageShape(message: string): string {
  return message
    .replace(/\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?/g, '<time>')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>')
    .replace(/\b0x[0-9a-f]+\b/gi, '<hex>')
    .replace(/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b/gi, '<hex>')
    .replace(/\d+/g, '<n>')
}

/** Identical messages grouped (same level, logger, exception and message shape), most frequent first.
 * A finding shows the message of its earliest entry. */
export function groupFindings(entries: LogEntry[]): Finding[] {
  const groups = new FindingGroups()
  for (const e of entries) groups.add(e)
  return groups.findings()
}

/** Kinds of findings kept at the most: a log of endless distinct messages must not fill the memory. */
const MAX_KINDS = 10_000

/** Findings grouped as entries come: memory grows with the kinds of problems, not with the log. */
export class FindingGroups {
  private groups = new Map<string, Finding>()
  /** Entries counted (all of them, those past MAX_KINDS included). */
  total = 0

  add(e: LogEntry) {
    this.total++
    const key = `${e.level}\0${e.logger}\0${e.exception}\0${messageShape(e.message)}`
    const found = this.groups.get(key) ?? (this.groups.size >= MAX_KINDS ? this.groups.get('\0more') : undefined)
    if (!found) {
      const full = this.groups.size >= MAX_KINDS
      this.groups.set(
        full ? '\0more' : key,
        full
          ? {
              level: 'ERROR',
              logger: '',
              message: `(more kinds than the ${MAX_KINDS} kept)`,
              exception: '',
              count: 1,
              firstOffset: e.offset,
            }
          : {
              level: e.level,
              logger: e.logger,
              message: e.message,
              exception: e.exception,
              count: 1,
              firstOffset: e.offset,
            },
      )
      return
    }
    found.count++
    if (e.offset < found.firstOffset && this.groups.get(key) === found) {
      found.firstOffset = e.offset
      found.message = e.message
    }
  }

  findings(): Finding[] {
    return [...this.groups.values()].sort((a, b) => b.count - a.count || a.firstOffset - b.firstOffset)
  }
}

/** At most maxLines lines of at most maxChars characters each, e.g.
 * "12× ERROR celery.worker AttributeError: 'NoneType' object has no attribute 'x'"; when more findings
 * exist, the last line says how many more ("… and 7 more kinds (23 entries) in logs/combined.log"). */
export function summarizeFindings(
  findings: Finding[],
  options: { maxLines?: number; maxChars?: number; where?: string } = {},
): string[] {
  const maxLines = Math.max(0, Math.floor(options.maxLines ?? 10))
  const maxChars = Math.max(1, Math.floor(options.maxChars ?? 200))
  if (findings.length === 0 || maxLines === 0) return []
  const shown = findings.length <= maxLines ? findings : findings.slice(0, maxLines - 1)
  const lines = shown.map((f) => cut(findingLine(f), maxChars))
  const hidden = findings.slice(shown.length)
  if (hidden.length) {
    // Always two or more: one hidden finding would have taken the line this one uses.
    const entries = hidden.reduce((n, f) => n + f.count, 0)
    const where = options.where ? ` in ${options.where}` : ''
    lines.push(cut(`… and ${hidden.length} more kinds (${entries} entries)${where}`, maxChars))
  }
  return lines
}

function findingLine(f: Finding): string {
  let line = `${f.count}× ${f.level}`
  if (f.logger) line += ` ${f.logger}`
  if (f.exception) line += ` ${f.exception}${f.message ? ':' : ''}`
  if (f.message) line += ` ${f.message}`
  return line
}
