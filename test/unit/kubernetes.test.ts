// The Kubernetes target's command contract, without a cluster: every kubectl call names the
// configured context and namespace; pods become instances; selectors; the environment of a
// command in a pod goes through stdin; production-looking contexts are signals.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { KEYS } from '../../lib/config/settings.ts'
import { spawnSync } from 'node:child_process'
import { envPrelude, KubernetesTarget, matches, podInstance, selectorOf } from '../../lib/targets/kubernetes.ts'
import type { Config } from '../../lib/config/config.ts'
import type { Runner, RunOptions, RunResult } from '../../lib/util/command.ts'
import { realClock } from '../../lib/util/wait.ts'

const config = {
  kube: { context: 'reset-and-test-local', namespace: 'reset-and-test-example', kubeconfig: '/k/config', selector: 'app.kubernetes.io/component={service}' },
  services: { api: 'api', postgres: 'postgres', redis: 'redis' },
  requiredServices: ['postgres', 'redis', 'api', 'worker'],
  workerServices: ['worker'],
  restart: { mode: 'restart', services: [], readyTimeoutMs: 1000 },
  safety: { safeHosts: [] },
  logFile: '/app/logs/combined.log',
  commandTimeoutMs: 1000,
  apiHealthPath: '/api/v1/health',
  apiPort: 8000,
} as unknown as Config

function recorder(answer: (argv: string[], options: RunOptions) => Partial<RunResult>) {
  const calls: { argv: string[]; options: RunOptions }[] = []
  const run = Object.assign(async (argv: string[], options: RunOptions = {}) => {
    calls.push({ argv, options })
    return { code: 0, stdout: '', stderr: '', timedOut: false, ...answer(argv, options) }
  }, { dryRun: false }) as Runner
  return { run, calls }
}

const pod = (name: string, component: string, phase = 'Running', ready = true, extra: object = {}) => ({
  metadata: { name, labels: { 'app.kubernetes.io/component': component } },
  status: { phase, podIP: '10.88.0.7', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }], containerStatuses: [{ state: { running: {} } }], ...extra },
})

test('selectors: the template names the service; equality selectors match labels', () => {
  assert.is(selectorOf('app.kubernetes.io/component={service}', 'api'), 'app.kubernetes.io/component=api')
  assert.ok(matches('a=1,b==2', { a: '1', b: '2', c: '3' }))
  assert.not.ok(matches('a=1,b=2', { a: '1' }))
  assert.ok(matches('a!=1', { a: '2' }))
  assert.ok(matches('tier', { tier: 'x' }))
})

test('pods as instances: running and ready, starting, crash-looping', () => {
  assert.is(podInstance(pod('api-1', 'api'), 'api', 1).readiness, 'ready')
  assert.is(podInstance(pod('api-1', 'api', 'Running', false), 'api', 1).readiness, 'waiting')
  assert.is(podInstance(pod('api-1', 'api', 'Pending', false), 'api', 1).readiness, 'waiting')
  const crash = podInstance(pod('api-1', 'api', 'Running', false, { containerStatuses: [{ state: { waiting: { reason: 'CrashLoopBackOff' } } }] }), 'api', 1)
  assert.equal([crash.readiness, crash.state], ['failed', 'CrashLoopBackOff'])
  assert.equal(podInstance(pod('api-1', 'api'), 'api', 1).addresses, ['10.88.0.7'])
})

test('every kubectl call names the configured kubeconfig, context and namespace', async () => {
  const { run, calls } = recorder((argv) => (argv.includes('pods') ? { stdout: JSON.stringify({ items: [pod('api-7', 'api'), pod('pg-0', 'postgres'), pod('other', 'frontend')] }) } : {}))
  const k = new KubernetesTarget(run, config, realClock, new AbortController().signal)
  const list = await k.instances()
  assert.equal(list.map((i) => `${i.service}:${i.name}`), ['api:api-7', 'postgres:pg-0'], 'pods of other components are not the app\'s')
  await k.exec('api', ['true'])
  for (const c of calls) assert.equal(c.argv.slice(0, 7), ['kubectl', '--kubeconfig', '/k/config', '--context', 'reset-and-test-local', '--namespace', 'reset-and-test-example'])
  assert.equal(calls.at(-1)!.argv.slice(7), ['exec', 'api-7', '--', 'true'])
})

test('the environment of a command in a pod goes through stdin, never on a command line', async () => {
  const { run, calls } = recorder((argv) => (argv.includes('pods') ? { stdout: JSON.stringify({ items: [pod('pg-0', 'postgres')] }) } : {}))
  const k = new KubernetesTarget(run, config, realClock, new AbortController().signal)
  await k.exec('postgres', ['psql', '-f', '-'], { env: { PGPASSWORD: "pa ss'#$" }, input: 'SELECT 1;' })
  const last = calls.at(-1)!
  assert.not.ok(last.argv.join(' ').includes('pa ss'), 'not on the kubectl command line')
  assert.ok(last.argv.includes('-i'))
  // The prelude, run by a real shell, sets the variable exactly and leaves the input to the command.
  const sh = spawnSync('sh', ['-c', 'IFS= read -r RT_ENV; eval "$RT_ENV"; unset RT_ENV; exec "$@"', 'sh', 'sh', '-c', 'printf "%s|" "$PGPASSWORD"; cat'], { input: last.options.input, encoding: 'utf8' })
  assert.is(sh.stdout, "pa ss'#$|SELECT 1;")
  assert.match(envPrelude({ A: 'x' }), /^export A="\$\(echo eA== \| base64 -d\)"$/)
})

test('a context, cluster or namespace named like production, or an API server elsewhere, is a signal', async () => {
  const view = (server: string, cluster = 'local') => ({ stdout: JSON.stringify({ clusters: [{ name: cluster, cluster: { server } }] }) })
  const at = async (server: string, over: Partial<Config['kube']> = {}, cluster?: string) => {
    const { run } = recorder(() => view(server, cluster))
    return new KubernetesTarget(run, { ...config, kube: { ...config.kube, ...over } } as Config, realClock, new AbortController().signal).signals()
  }
  assert.equal(await at('https://127.0.0.1:6443'), [])
  assert.match((await at('https://127.0.0.1:6443', { context: 'prod-cluster' })).join(), /context is named prod-cluster/)
  assert.match((await at('https://127.0.0.1:6443', {}, 'gke_live_eu')).join(), /cluster is named gke_live_eu/)
  assert.match((await at('https://k8s.example.com:6443')).join(), /API server https:\/\/k8s.example.com:6443 is not on this machine/)
})

test('held workers: scaled to 0 with their replicas kept in an annotation, waited for until their pods are gone, scaled back from it', async () => {
  let annotated: string | null = null
  let podLists = 0
  const { run, calls } = recorder((argv) => {
    if (argv.includes('pods')) {
      // the first listing after the scale still shows a pod on its way out
      const labels = { 'app.kubernetes.io/component': 'worker' }
      const on = podLists++ === 0 ? [{ metadata: { name: 'worker-1', labels, deletionTimestamp: 'now' } }] : []
      return { stdout: JSON.stringify({ items: on }) }
    }
    if (argv.includes('deployments,statefulsets')) {
      const annotations = annotated ? { 'reset-and-test/replicas': annotated } : {}
      return { stdout: JSON.stringify({ items: [{ kind: 'Deployment', metadata: { name: 'worker', labels: { 'app.kubernetes.io/component': 'worker' }, annotations }, spec: { replicas: annotated ? 0 : 3 } }] }) }
    }
    const a = argv.find((x) => x.startsWith('reset-and-test/replicas='))
    if (a) annotated = a.split('=')[1]
    if (argv.includes('reset-and-test/replicas-')) annotated = null
    return {}
  })
  const k = new KubernetesTarget(run, config, realClock, new AbortController().signal)
  await k.stop(['worker'])
  assert.ok(calls.some((c) => c.argv.join(' ').endsWith('scale deployment/worker --replicas=0')))
  assert.is(annotated, '3')
  assert.is(podLists, 2, 'the pods were listed until none was left')
  await k.start(['worker'])
  assert.ok(calls.some((c) => c.argv.join(' ').endsWith('scale deployment/worker --replicas=3')))
  assert.is(annotated, null)
})

test("the default selector is scoped to the app: another app's worker in the same namespace is not the app's", () => {
  const selector = selectorOf(KEYS.KUBE_SELECTOR[0], 'worker', 'shop')
  assert.is(selector, 'app.kubernetes.io/part-of=shop,app.kubernetes.io/component=worker')
  assert.ok(matches(selector, { 'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/component': 'worker' }))
  assert.not.ok(matches(selector, { 'app.kubernetes.io/part-of': 'billing', 'app.kubernetes.io/component': 'worker' }))
})

test.run()
