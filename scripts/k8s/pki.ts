// The cluster's certificates (openssl: a CA, the apiserver's serving certificate, client
// certificates) and the kubeconfigs that carry them. Each is made once and kept in pki/.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { run } from './exec.ts'
import { say } from './log.ts'
import { API_PORT, CONTEXT, NODE_NAME, type ClusterSettings } from './settings.ts'

const DAYS = '3650'

export async function generatePki(s: ClusterSettings): Promise<void> {
  mkdirSync(s.pki, { recursive: true })
  chmodSync(s.pki, 0o700)
  const at = (name: string) => path.join(s.pki, name)
  if (!existsSync(at('ca.crt'))) {
    say(`generating certificates (${s.pki})`)
    await openssl([
      'req',
      '-x509',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      at('ca.key'),
      '-days',
      DAYS,
      '-sha256',
      '-subj',
      '/CN=reset-and-test-k8s-ca',
      '-out',
      at('ca.crt'),
    ])
  }
  const names = [
    'localhost',
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    'kubernetes.default.svc.cluster.local',
  ]
  await sign(
    s,
    'apiserver',
    '/CN=kube-apiserver',
    ['IP:127.0.0.1', `IP:${s.apiServiceIp}`, ...names.map((n) => `DNS:${n}`)].join(','),
  )
  await sign(s, 'admin', '/O=system:masters/CN=reset-and-test-admin') // kubectl, controllers, kube-proxy
  await sign(s, 'apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client')
  await sign(s, 'kubelet', `/O=system:nodes/CN=system:node:${NODE_NAME}`)
  if (!existsSync(at('sa.key'))) {
    await openssl(['genrsa', '-out', at('sa.key'), '2048'])
    await openssl(['rsa', '-in', at('sa.key'), '-pubout', '-out', at('sa.pub')])
  }
}

/** pki/NAME.crt and .key signed by the CA: a client certificate, or a server one for the names in san. */
async function sign(s: ClusterSettings, name: string, subject: string, san?: string): Promise<void> {
  const at = (file: string) => path.join(s.pki, file)
  if (existsSync(at(`${name}.crt`))) return
  const usage = san ? `extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san}` : 'extendedKeyUsage=clientAuth'
  const tmp = mkdtempSync(path.join(tmpdir(), 'ensure-k8s-'))
  const ext = path.join(tmp, 'ext.cnf')
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n${usage}\n`)
  try {
    await openssl([
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      at(`${name}.key`),
      '-subj',
      subject,
      '-out',
      at(`${name}.csr`),
    ])
    await openssl([
      'x509',
      '-req',
      '-in',
      at(`${name}.csr`),
      '-CA',
      at('ca.crt'),
      '-CAkey',
      at('ca.key'),
      '-CAcreateserial',
      '-days',
      DAYS,
      '-sha256',
      '-extfile',
      ext,
      '-out',
      at(`${name}.crt`),
    ])
  } finally {
    rmSync(tmp, { recursive: true, force: true })
    rmSync(at(`${name}.csr`), { force: true })
  }
}

function openssl(args: string[]) {
  return run(['openssl', ...args], { timeoutMs: 60_000 })
}

export function writeKubeconfigs(s: ClusterSettings): void {
  writeKubeconfig(s, s.kubeconfig, 'admin')
  writeKubeconfig(s, path.join(s.stateDir, 'kubelet.kubeconfig'), 'kubelet')
}

/** A kubeconfig for the apiserver on loopback, certificates embedded, context reset-and-test-local. */
function writeKubeconfig(s: ClusterSettings, file: string, cert: string): void {
  if (existsSync(file)) return
  const data = (name: string) => readFileSync(path.join(s.pki, name)).toString('base64')
  const user = `${CONTEXT}-${cert}`
  const text = `apiVersion: v1
kind: Config
clusters:
- name: ${CONTEXT}
  cluster:
    server: https://127.0.0.1:${API_PORT}
    certificate-authority-data: ${data('ca.crt')}
users:
- name: ${user}
  user:
    client-certificate-data: ${data(`${cert}.crt`)}
    client-key-data: ${data(`${cert}.key`)}
contexts:
- name: ${CONTEXT}
  context:
    cluster: ${CONTEXT}
    user: ${user}
current-context: ${CONTEXT}
preferences: {}
`
  writeFileSync(`${file}.tmp`, text)
  chmodSync(`${file}.tmp`, 0o600)
  renameSync(`${file}.tmp`, file)
}
