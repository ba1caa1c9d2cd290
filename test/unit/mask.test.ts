import { test } from '../harness.ts'
import * as assert from 'uvu/assert'
import { mask, type Secrets } from '../../lib/util/mask.ts'

// The real application's defaults: the password is also the user, the service and part of the URL scheme.
const names = ['postgres', 'redis', 'api', 'worker', 'flower', 'fastapi-k8-proto', 'fastapi_k8_proto', 'users', 'jobs']
const weak: Secrets = { values: ['postgres'], words: names }
const strong: Secrets = { values: ["S3cr#t $pa'ss w0rd", 'p@ss:w/rd#1%'], words: names }
const dev: Secrets = { values: ['dev'], words: [] }
const none: Secrets = { values: [], words: names }

const cases: [string, Secrets, string, string][] = [
  // A password equal to a name: bare occurrences are the name.
  ['service name', weak, 'service postgres of project fastapi-k8-proto', 'service postgres of project fastapi-k8-proto'],
  ['counts per service', weak, 'api×1, postgres×1, redis×1', 'api×1, postgres×1, redis×1'],
  ['a key that is the name', weak, 'postgres=15.20', 'postgres=15.20'],
  ['user and scheme readable, URL password masked', weak, 'postgres://postgres:postgres@127.0.0.1:15432/db', 'postgres://postgres:***@127.0.0.1:15432/db'],
  ['PGPASSWORD', weak, 'PGPASSWORD=postgres psql -U postgres', 'PGPASSWORD=*** psql -U postgres'],
  ['POSTGRES_PASSWORD beside POSTGRES_USER', weak, 'POSTGRES_USER=postgres POSTGRES_PASSWORD=postgres', 'POSTGRES_USER=postgres POSTGRES_PASSWORD=***'],
  ['pg error names the user', weak, 'FATAL:  password authentication failed for user "postgres"', 'FATAL:  password authentication failed for user "postgres"'],
  ['container names', weak, 'fastapi-k8-proto-postgres-1 is healthy; postgres_data kept', 'fastapi-k8-proto-postgres-1 is healthy; postgres_data kept'],
  ['compose YAML', weak, '  POSTGRES_PASSWORD: postgres\n  POSTGRES_DB: fastapi_k8_proto', '  POSTGRES_PASSWORD: ***\n  POSTGRES_DB: fastapi_k8_proto'],
  ['JSON', weak, '{"user": "postgres", "password": "postgres", "host": "postgres"}', '{"user": "postgres", "password": "***", "host": "postgres"}'],
  ['compact JSON and a Python dict', weak, `{"password":"postgres"} {'password': 'postgres', 'db': 'postgres'}`, `{"password":"***"} {'password': '***', 'db': 'postgres'}`],
  ['JSON inside a JSON string', weak, '{"message": "config {\\"password\\": \\"postgres\\"}"}', '{"message": "config {\\"password\\": \\"***\\"}"}'],
  ['libpq key=value', weak, "host=postgres port=5432 user=postgres password=postgres dbname=postgres", 'host=postgres port=5432 user=postgres password=*** dbname=postgres'],
  ['libpq in an error message', { values: ['hunter2'], words: [] }, '(dsn: host=postgres password=hunter2)', '(dsn: host=postgres password=***)'],
  ['libpq quoted value', weak, "password='sec ret' user=postgres", "password='***' user=postgres"],
  ['libpq quoted value with an escaped quote', none, "password='it\\'s' x=1", "password='***' x=1"],
  ['command-line arguments', weak, 'pg_dump --password postgres --username=postgres; x --password=postgres', 'pg_dump --password *** --username=postgres; x --password=***'],
  ['redis-cli -a', weak, 'docker exec redis redis-cli -a postgres --no-auth-warning ping', 'docker exec redis redis-cli -a *** --no-auth-warning ping'],
  ['-a elsewhere is not a password', weak, 'docker ps -a postgres', 'docker ps -a postgres'],
  ['redis-server --requirepass and config', weak, 'redis-server --requirepass postgres; CONFIG SET requirepass postgres', 'redis-server --requirepass ***; CONFIG SET requirepass ***'],
  ['a flag followed by another option has no value', none, 'psql --password --host x', 'psql --password --host x'],
  ['AUTH password', weak, 'AUTH postgres', 'AUTH ***'],
  ['AUTH user password', weak, 'AUTH default postgres', 'AUTH default ***'],
  ['AUTH with an unlisted password', none, 'AUTH default hunter2', 'AUTH default ***'],
  ['Redis error about AUTH stays readable', none, 'ERR AUTH <password> called without any password configured for the default user.', 'ERR AUTH <password> called without any password configured for the default user.'],
  ['REDISCLI_AUTH, SECRET_KEY, API keys, tokens', none, 'REDISCLI_AUTH=a1 SECRET_KEY=b2 OPENAI_API_KEY=sk-3 apiKey: c4 GITHUB_TOKEN=d5 x-api-key: e6', 'REDISCLI_AUTH=*** SECRET_KEY=*** OPENAI_API_KEY=*** apiKey: *** GITHUB_TOKEN=*** x-api-key: ***'],
  ['keys that only look secret', none, 'ACCESS_TOKEN_EXPIRE_MINUTES=30 max_tokens=100 key=circuit_breaker:openai token_type=bearer PASSWORD_FILE=/run/x', 'ACCESS_TOKEN_EXPIRE_MINUTES=30 max_tokens=100 key=circuit_breaker:openai token_type=bearer PASSWORD_FILE=/run/x'],
  ['unset and placeholder values stay', none, 'REDIS_PASSWORD= REDIS_PASSWORD=None password: null POSTGRES_PASSWORD: ${POSTGRES_PASSWORD} PGPASSWORD=$POSTGRES_PASSWORD', 'REDIS_PASSWORD= REDIS_PASSWORD=None password: null POSTGRES_PASSWORD: ${POSTGRES_PASSWORD} PGPASSWORD=$POSTGRES_PASSWORD'],
  ['spaces around =', none, 'password = hunter2', 'password = ***'],
  ['PWD the directory', none, 'PWD=/work/main', 'PWD=/work/main'],
  ['Authorization header keeps its scheme', none, 'Authorization: Bearer abc.def', 'Authorization: Bearer ***'],
  ['prose with a weak secret word before a colon stays', none, '[19:45:47] auth: signed up and logged in as smoke@example.test; pass: 3 of 3', '[19:45:47] auth: signed up and logged in as smoke@example.test; pass: 3 of 3'],
  ['a weak secret word with = or in KEY form is still a secret', none, 'auth=hunter2 AUTH: hunter3 redis_auth: hunter4', 'auth=*** AUTH: *** redis_auth: ***'],
  ['URL password not listed', none, 'redis://:hunter2@redis:6379/0 and http://u:p%40ss@h/', 'redis://:***@redis:6379/0 and http://u:***@h/'],
  ['ports and paths are not passwords', none, 'http://localhost:8000/api/v1/health/ postgres://127.0.0.1:15432/db', 'http://localhost:8000/api/v1/health/ postgres://127.0.0.1:15432/db'],
  ['errors that echo a connection string', none, 'ReplyError: connect ECONNREFUSED redis://default:hunter2@127.0.0.1:16379', 'ReplyError: connect ECONNREFUSED redis://default:***@127.0.0.1:16379'],
  // A strong password: every occurrence.
  ['strong: bare', strong, "the password S3cr#t $pa'ss w0rd and p@ss:w/rd#1% end", 'the password *** and *** end'],
  ['strong: KEY=VALUE unquoted, quoted, shell-quoted', strong, `POSTGRES_PASSWORD=S3cr#t $pa'ss w0rd\nA_PASSWORD="p@ss:w/rd#1%" B_PASSWORD='S3cr#t $pa'\\''ss w0rd'`, `POSTGRES_PASSWORD=***\nA_PASSWORD="***" B_PASSWORD='***'`],
  ['strong: raw in a URL', strong, "postgresql://u:p@ss:w/rd#1%@h:5432/db redis://:S3cr#t $pa'ss w0rd@r:6379", 'postgresql://u:***@h:5432/db redis://:***@r:6379'],
  ['strong: percent-encoded (JS and Python) in a URL and bare', strong,
    `postgresql://u:${encodeURIComponent('p@ss:w/rd#1%')}@h/db ${encodeURIComponent("S3cr#t $pa'ss w0rd")} S3cr%23t%20%24pa%27ss%20w0rd s3cr%23t S3cr%23t+%24pa%27ss+w0rd`,
    'postgresql://u:***@h/db *** *** s3cr%23t ***'],
  ['strong: in JSON', strong, JSON.stringify({ password: 'p@ss:w/rd#1%', note: "S3cr#t $pa'ss w0rd", dsn: 'postgres://u:p@ss:w/rd#1%@h/d' }), '{"password":"***","note":"***","dsn":"postgres://u:***@h/d"}'],
  ['strong: escaped quotes and backslashes', { values: ['a"b\\c'], words: [] }, 'json "a\\"b\\\\c" shell a\\"b\\\\c raw a"b\\c', 'json "***" shell *** raw ***'],
  ['strong: regex metacharacters', { values: ['.*+?^${}()|[]\\/'], words: [] }, 'x .*+?^${}()|[]\\/ y .a', 'x *** y .a'],
  ['strong: emoji and accents', { values: ['pässwörd🔑', 'çava'], words: [] }, 'pw pässwörd🔑, not xpässwörd🔑, çava, not çavaé', 'pw ***, not xpässwörd🔑, ***, not çavaé'],
  // Secrets inside longer words are left alone (the longer word is not the password).
  ['a secret inside a longer word stays', dev, 'development dev_db devdev dev', 'development dev_db devdev ***'],
  ['a secret beside punctuation is masked', dev, '(dev) dev-server "dev" dev.', '(***) ***-server "***" ***.'],
  ['case matters', dev, 'DEV Dev dev', 'DEV Dev ***'],
  ['empty secrets are ignored', { values: ['', 'x1'], words: [''] }, 'a x1 b', 'a *** b'],
  ['nothing to mask', none, '', ''],
]

for (const [name, secrets, text, expected] of cases) {
  test(`mask: ${name}`, () => assert.is(mask(text, secrets), expected))
}

test('mask: a listed secret never survives in a secret position, whatever it is', () => {
  for (const secret of ['postgres', "S3cr#t $pa'ss w0rd", 'p@ss:w/rd#1%', 'a b', '$x', "it's", '100%']) {
    const secrets: Secrets = { values: [secret], words: ['postgres'] }
    for (const text of [`PASSWORD=${secret}`, `password: ${secret}`, `{"password": ${JSON.stringify(secret)}}`, `--password ${secret}`, `pg://u:${encodeURIComponent(secret)}@h`]) {
      const masked = mask(text, secrets)
      assert.not.ok(masked.includes(secret) || masked.includes(encodeURIComponent(secret)), `${text} -> ${masked}`)
      assert.ok(masked.includes('***'), `${text} -> ${masked}`)
    }
  }
})

test('mask: idempotent, and a word is never masked bare', () => {
  const text = 'postgres://postgres:postgres@postgres:5432/postgres PGPASSWORD=postgres postgres'
  const once = mask(text, weak)
  assert.is(once, 'postgres://postgres:***@postgres:5432/postgres PGPASSWORD=*** postgres')
  assert.is(mask(once, weak), once)
})

test.run()
