// Before anything changes: root on a Debian host, and no other ensure-k8s at work.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { EnsureK8sError, say, warn } from './log.ts'
import { findExecutable } from './exec.ts'
import { LOCK_FILE } from './settings.ts'

export function requireRootDebian(): void {
  if (process.getuid?.() !== 0)
    throw new EnsureK8sError('must run as root (it starts a kubelet and changes iptables and sysctls).')
  if (!findExecutable('apt-get')) throw new EnsureK8sError('needs a Debian host (apt-get).')
  const release = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : ''
  if (!release.includes('bookworm')) warn('not Debian bookworm; the build recipe is made for bookworm.')
}

let locked = false

/**
 * Holds the machine-wide lock until this process exits. flock(1) locks the open file this process
 * shares with it, so the lock outlives flock; the file is opened close-on-exec, so the components
 * started later do not hold it.
 */
export async function takeLock(file = LOCK_FILE): Promise<void> {
  if (locked) return
  mkdirSync(path.dirname(file), { recursive: true })
  const fd = openSync(file, 'w')
  if ((await flock(fd, file, ['-n'])) !== 0) {
    say(`waiting for another ensure-k8s to finish (lock ${file})`)
    if ((await flock(fd, file, ['-w', '3600'])) !== 0)
      throw new EnsureK8sError(`another ensure-k8s is running (lock ${file}); waited an hour.`)
  }
  locked = true
}

function flock(fd: number, file: string, options: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', [...options, '3'], { stdio: ['ignore', 'inherit', 'inherit', fd], timeout: 3_700_000 })
    child.on('error', (e) =>
      reject(new EnsureK8sError(`flock ${options.join(' ')} on ${file} could not run: ${e.message}`)),
    )
    child.on('exit', (code) => resolve(code))
  })
}
