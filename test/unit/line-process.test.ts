// A command kept running that answers line by line: answers in order, failures named with the
// command's output, a deadline, and closing its input ends it.
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { LineProcess } from '../../lib/util/line-process.ts'

const echo = () => new LineProcess(['sh', '-c', 'while IFS= read -r l; do echo "got $l"; done; echo bye >&2'])

test('answers each question with the next line, one process for all', async () => {
  const p = echo()
  assert.is(await p.ask('one', 5_000), 'got one')
  assert.is(await p.ask('two', 5_000), 'got two')
  assert.ok(p.alive)
  await p.close()
  assert.not.ok(p.alive, 'closing its input ended it')
})

test('the environment by name and a prelude before the first question', async () => {
  const p = new LineProcess(['sh', '-c', 'IFS= read -r first; while IFS= read -r l; do echo "$first $SECRET_NAME $l"; done'], { SECRET_NAME: 's3' }, 'pre\n')
  assert.is(await p.ask('q', 5_000), 'pre s3 q')
  await p.close()
})

test('a process that ends instead of answering is a failure naming how it ended and its stderr', async () => {
  const p = new LineProcess(['sh', '-c', 'read l; echo "no broker" >&2; exit 3'])
  try {
    await p.ask('q', 5_000)
    assert.unreachable('should have failed')
  } catch (e) {
    assert.match((e as Error).message, /exited with code 3: no broker/)
  }
  await assert.not.throws(() => p.close())
  await p.ask('again', 1_000).then(
    () => assert.unreachable('an ended process answers nothing'),
    (e: Error) => assert.match(e.message, /exited with code 3/),
  )
})

test('no answer within the deadline is a failure, and the process is killed', async () => {
  const p = new LineProcess(['sh', '-c', 'sleep 30'])
  const t0 = Date.now()
  await p.ask('q', 300).then(
    () => assert.unreachable('should time out'),
    (e: Error) => assert.match(e.message, /gave no answer within 0.3 s/),
  )
  assert.ok(Date.now() - t0 < 5_000)
  await p.close()
  assert.not.ok(p.alive)
})

test.run()
