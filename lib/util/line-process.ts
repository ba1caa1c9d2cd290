// A command kept running to answer line by line: each question is one line written to its stdin,
// each answer the next line it prints. It saves starting the command again (for the Celery
// control program: `docker exec`, Python and the `celery` import, about 0.2 s a time). Closing
// its stdin ends it; so does this process ending, which closes the pipe.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { showCommand } from './command.ts'

export class LineProcess {
  private child: ChildProcessWithoutNullStreams
  private buffered = ''
  private stderr = ''
  private ended: string | null = null
  private waiter: { resolve: (line: string) => void; reject: (e: Error) => void } | null = null
  private finished!: () => void
  private done = new Promise<void>((resolve) => (this.finished = resolve))

  /** `prelude` is written before any question (the environment, where it cannot go on the command line). */
  constructor(
    private argv: string[],
    env: Record<string, string> = {},
    prelude?: string,
  ) {
    this.child = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stdout.on('data', (d: Buffer) => this.take(d.toString()))
    this.child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d).slice(-4000)))
    this.child.stdin.on('error', () => {}) // a closed pipe shows as the process ending
    const how = (code: number | null, signal: string | null) =>
      signal ? `was killed by ${signal}` : `exited with code ${code}`
    this.child.on('error', (e) => this.end(e.message))
    this.child.on('close', (code, signal) => this.end(how(code, signal)))
    // A grandchild may keep the pipes open after the command itself ended: its output is in by now.
    this.child.on('exit', (code, signal) => setTimeout(() => this.end(how(code, signal)), 100))
    if (prelude) this.child.stdin.write(prelude)
  }

  /** Writes the line; resolves with the next line printed, within the deadline. */
  ask(line: string, timeoutMs: number): Promise<string> {
    if (this.ended) return Promise.reject(this.failure())
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null
        reject(new Error(`${this.shown()} gave no answer within ${timeoutMs / 1000} s${this.tail()}`))
        this.child.kill('SIGKILL')
      }, timeoutMs)
      this.waiter = {
        resolve: (l) => (clearTimeout(timer), resolve(l)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      }
      this.child.stdin.write(line + '\n')
    })
  }

  /** Ends its input and waits (at most a few seconds) for it to end. */
  async close(): Promise<void> {
    if (this.ended) return
    this.child.stdin.end()
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    await this.done
    clearTimeout(timer)
  }

  get alive(): boolean {
    return this.ended === null
  }

  private take(chunk: string) {
    this.buffered += chunk
    let at: number
    while ((at = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, at)
      this.buffered = this.buffered.slice(at + 1)
      const w = this.waiter // a line nobody asked for is not an answer
      this.waiter = null
      w?.resolve(line)
    }
  }

  private end(how: string) {
    if (this.ended) return
    this.ended = how
    this.finished()
    const w = this.waiter
    this.waiter = null
    w?.reject(this.failure())
  }

  private failure(): Error {
    return new Error(`${this.shown()} ${this.ended}${this.tail()}`)
  }

  private shown(): string {
    const long = this.argv.findIndex((a) => a.length > 80)
    return showCommand(long < 0 ? this.argv : [...this.argv.slice(0, long), '…'])
  }

  private tail(): string {
    const t = this.stderr.trim().split('\n').slice(-5).join(' | ')
    return t ? `: ${t}` : ''
  }
}
