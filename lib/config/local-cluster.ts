// The bundled local Kubernetes cluster (scripts/ensure-k8s.mts) and the example on it: its names
// and where its kubeconfig is, in one place. TARGET=kubernetes without a context of your own means it.
import path from 'node:path'

export const LOCAL_CONTEXT = 'reset-and-test-local'
export const LOCAL_NAMESPACE = 'reset-and-test-example'

/** Where the cluster keeps its state (K8S_STATE_DIR overrides it). */
export const localStateDir = (env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env) =>
  env.K8S_STATE_DIR || '/var/lib/reset-and-test-k8s'

export const localKubeconfig = (env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env) =>
  path.join(localStateDir(env), 'kubeconfig')
