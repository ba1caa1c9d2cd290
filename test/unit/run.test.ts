import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { CommandError, createRunner, showCommand } from '../../lib/util/command.ts'

const run = createRunner({ dryRun: false, secrets: { values: ['hunter2'], words: [] }, defaultTimeoutMs: 5000 })

test('arguments reach the command unsplit and unexpanded', async () => {
  const res = await run(['printf', '%s|', 'a b', '$HOME', "it's", '; rm -rf /'])
  assert.is(res.stdout, "a b|$HOME|it's|; rm -rf /|")
})

test('a failing command throws with its output, the password masked', async () => {
  await run(['sh', '-c', 'echo "login as admin with hunter2 failed" >&2; exit 3']).then(
    () => assert.unreachable(),
    (e: CommandError) => {
      assert.instance(e, CommandError)
      assert.is(e.result.code, 3)
      assert.match(e.message, /exited with code 3/)
      assert.match(e.message, /login as admin with \*\*\* failed/)
      assert.not.match(e.message, /hunter2/)
    },
  )
})

test('allowFailure returns the result instead', async () => {
  const res = await run(['sh', '-c', 'exit 4'], { allowFailure: true })
  assert.is(res.code, 4)
})

test('a command past its deadline is killed with its children', async () => {
  const t0 = Date.now()
  const res = await run(['sh', '-c', 'sleep 37.25 & sleep 37.25'], { timeoutMs: 300, allowFailure: true })
  assert.ok(res.timedOut, 'reported as timed out')
  assert.ok(Date.now() - t0 < 10_000, `killed promptly (${Date.now() - t0} ms)`)
  let left = ''
  for (let i = 0; i < 50; i++) {
    left = (await run(['sh', '-c', 'pgrep -f "^sleep 37.25$" || true'])).stdout.trim()
    if (!left) break
    await new Promise((r) => setTimeout(r, 100))
  }
  assert.is(left, '', 'no child left behind')
})

test('a dry run prints commands that change something and runs the rest', async () => {
  const lines: string[] = []
  const dry = createRunner({ dryRun: true, secrets: { values: ['hunter2'], words: [] }, defaultTimeoutMs: 5000, print: (l) => lines.push(l) })
  const res = await dry(['touch', '/tmp/never', '--password=hunter2'], { mutates: true })
  assert.is(res.code, 0)
  assert.equal(lines, ['  [dry-run] would run: touch /tmp/never --password=***'])
  assert.is((await dry(['echo', 'read-only'])).stdout, 'read-only\n')
})

test('showCommand quotes what a shell would split', () => {
  assert.is(showCommand(['docker', 'exec', 'a b', "it's"]), `docker exec 'a b' 'it'\\''s'`)
})

test.run()
