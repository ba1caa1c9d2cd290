// An in-memory target for the run loop's unit tests: instances by service, a log, and a journal of
// what was asked of it. No Docker, no cluster.
import type { Config } from '../../lib/config/config.ts'
import { stepOf } from '../../lib/run/registry.ts'
import type { Runner, RunResult } from '../../lib/util/command.ts'
import type { Endpoint, Instance, LogFile, ProcessTable, RecreateOptions, Target, WaitReadyOptions } from '../../lib/targets/target.ts'

export const instanceOf = (service: string, number = 1, over: Partial<Instance> = {}): Instance => ({
  id: `${service}-${number}`,
  name: `p-${service}-${number}`,
  service,
  number,
  state: 'running',
  health: null,
  exitCode: 0,
  finishedAt: null,
  healthLog: [],
  readiness: 'ready',
  ports: {},
  addresses: [],
  origin: null,
  ...over,
})

export class FakeTarget implements Target {
  readonly kind = 'compose' as const
  /** Every call that changes something, in order: "restart api,postgres (restart)", "stop worker", "truncate log". */
  readonly journal: string[] = []
  logText = 'x'.repeat(120)
  signalsToGive: string[] = []

  constructor(public list: Instance[] = ['postgres', 'redis', 'api', 'worker'].map((s) => instanceOf(s))) {}

  describe() {
    return 'a fake compose project p'
  }
  async ping() {
    return 'a fake engine'
  }
  async signals() {
    return this.signalsToGive
  }
  async engine() {
    return { line: 'a fake engine at unix:///var/run/docker.sock', problem: null }
  }
  async drift() {
    return []
  }
  /** Every instance runs its service alone (PID 1 in session 1), started an hour ago. */
  async processes(service: string): Promise<ProcessTable[]> {
    const startedAt = Date.now() - 3_600_000
    return this.list.filter((i) => i.service === service && i.state === 'running').map((instance) => ({ instance, hostname: instance.id, readerSid: 99, procs: [{ pid: 1, ppid: 0, sid: 1, startedAt, argv: [service] }] }))
  }
  async stopProcesses(instance: Instance, procs: { pid: number }[]) {
    this.journal.push(`stop processes ${procs.map((p) => p.pid).join(',')} in ${instance.name}`)
  }
  async tool() {
    return 'fake compose'
  }
  async instances() {
    return this.list
  }
  async current() {
    return this.list
  }
  async instance(service: string) {
    const found = this.list.find((i) => i.service === service && i.state === 'running')
    if (!found) throw new Error(`service ${service} is not running`)
    return found
  }
  async servicesFor(names: string[]) {
    return names
  }
  async exec(service: string, argv: string[]): Promise<RunResult> {
    this.journal.push(`exec ${service} ${argv.join(' ')}`)
    return { code: 0, stdout: '', stderr: '', timedOut: false }
  }
  async execStream(service: string, argv: string[]): Promise<RunResult> {
    return this.exec(service, argv)
  }
  async execTracked(service: string, command: string) {
    return this.exec(service, [command])
  }
  async runOneOff(service: string, argv: string[]) {
    return this.exec(service, argv)
  }
  private setState(services: string[], state: string) {
    for (const i of this.list) if (services.includes(i.service)) Object.assign(i, { state, readiness: state === 'running' ? 'ready' : 'stopped' })
  }
  async start(services: string[]) {
    this.journal.push(`start ${services.join(',')}`)
    this.setState(services, 'running')
  }
  async stop(services: string[]) {
    this.journal.push(`stop ${services.join(',')}`)
    this.setState(services, 'exited')
  }
  private which(services: string[], except: string[] = []) {
    return (services.length ? services : [...new Set(this.list.map((i) => i.service))]).filter((s) => !except.includes(s))
  }
  async restart(services: string[], except: string[] = []) {
    const which = this.which(services, except)
    this.journal.push(`restart ${which.join(',')} (restart)`)
    return `fake restart ${which.join(' ')}`
  }
  async recreate(services: string[], options: RecreateOptions = {}) {
    const which = this.which(services, options.except)
    this.journal.push(`restart ${which.join(',')} (${options.build ? 'rebuild' : 'recreate'})`)
    this.setState(which, 'running')
    return `fake recreate ${which.join(' ')}`
  }
  async wipe() {
    this.journal.push('wipe')
    return 'fake down -v'
  }
  async waitReady(options: WaitReadyOptions = {}) {
    return this.list.filter((i) => (!options.services || options.services.includes(i.service)) && i.state === 'running')
  }
  async endpoint(): Promise<Endpoint | null> {
    return null
  }
  readonly log: LogFile = {
    where: async () => '/fake/logs/combined.log',
    size: async () => this.logText.length,
    stream: async (from, onChunk) => onChunk(Buffer.from(this.logText).subarray(from), from),
    truncate: async () => {
      this.journal.push('truncate log')
      this.logText = ''
    },
    problem: async () => null,
  }
  async logTail() {
    return ''
  }
  /** Lines a test puts in an instance's log (by instance name). */
  logs: Record<string, string[]> = {}
  /** Where each instance's log was last read from (undefined: since it started). */
  logsReadSince: Record<string, Date | undefined> = {}
  async logMatches(instance: Instance, pattern: RegExp, since?: Date) {
    this.logsReadSince[instance.name] = since
    return (this.logs[instance.name] ?? []).filter((l) => pattern.test(l))
  }
  async status() {
    return 'fake status'
  }
  async session(): Promise<never> {
    throw new Error('the fake target runs no session')
  }
  async close() {}
}

/** A runner that refuses to run anything: the loop's tests must not reach a real command. */
export const noRunner = (_config: Config, dryRun: boolean): Runner =>
  Object.assign(async (argv: string[]): Promise<RunResult> => {
    throw new Error(`no command may run in this test: ${argv.join(' ')}`)
  }, { dryRun })

/** A registry step with words, for phases a test writes itself. */
export const phaseOf = (name: string) => ({ ...stepOf(name), title: name, purpose: `the ${name} of a test` })
