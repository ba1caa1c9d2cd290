// The command line as typed: values stay the strings typed, positionals too, and flags mean what the
// script declares (a script's own --backup NAME, the wrapper's boolean --backup).
import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { parseArgs } from '../../lib/run/args.ts'
import { COMMON_FLAGS } from '../../lib/run/cli.ts'
import rollbackCode from '../../scripts/rollback-code.mts'
import rollbackDb from '../../scripts/rollback-db.mts'

const common = (argv: string[]) => parseArgs(argv, COMMON_FLAGS)

test('values that look like numbers stay the text typed: --postgres-db 007, --reset-tables 1e3, a password 0123', () => {
  const p = common(['--postgres-db', '007', '--reset-tables=1e3', '--postgres-password', '0123', '--api-port', '08000'])
  assert.equal(p.settings, { POSTGRES_DB: '007', RESET_TABLES: '1e3', POSTGRES_PASSWORD: '0123', API_PORT: '08000' })
  assert.equal(p.problems, [])
})

test('positional arguments stay text: a revision 0003, a hash 12e4567', () => {
  const p = parseArgs(['downgrade', '0003', '--', '-1'], [...(rollbackDb.flags ?? []), ...COMMON_FLAGS])
  assert.equal(p.positionals, ['downgrade', '0003', '-1'])
  const code = parseArgs(['--revert', '0012345', '--from-backup', '12e4567'], [...(rollbackCode.flags ?? []), ...COMMON_FLAGS])
  assert.equal([code.flags.revert, code.flags['from-backup']], ['0012345', '12e4567'])
})

test("a script's own flag wins over the wrapper's: rollback-code's --backup takes a NAME, elsewhere --backup takes none", () => {
  const code = parseArgs(['--backup', 'simplification'], [...(rollbackCode.flags ?? []), ...COMMON_FLAGS])
  assert.equal([code.flags.backup, code.positionals], ['simplification', []])
  const reset = common(['--backup', 'x'])
  assert.equal([reset.flags.backup, reset.positionals], [true, ['x']])
})

test('a setting whose default is true or false is a flag without a value; short aliases work', () => {
  const p = parseArgs(['--strict-logs', '-y', '-n'], COMMON_FLAGS)
  assert.equal(p.settings, { STRICT_LOGS: 'true' })
  assert.equal([p.flags.yes, p.flags['dry-run']], [true, true])
})

test('--json - is a value (stdout), not a flag without one', () => {
  assert.is(common(['--json', '-']).flags.json, '-')
})

test('mistakes are named: unknown options, a flag given twice, a value missing', () => {
  assert.equal(common(['--bogus']).problems, ['unknown option: --bogus (see --help)'])
  assert.equal(common(['--json', 'a', '--json', 'b']).problems, ['--json given 2 times; give it once'])
  assert.equal(common(['--restart-mode', 'x', '--restart-mode', 'y']).problems, ['--restart-mode given 2 times; give it once'])
  assert.equal(common(['--junit']).problems, ['--junit needs a value'])
  assert.equal(common(['--worker-services', '']).settings, { WORKER_SERVICES: '' }, 'an empty value for a setting is a value')
})

test.run()
