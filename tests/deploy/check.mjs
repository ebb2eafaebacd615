// Offline checks of the deployment files (ctest -L deploy). Usage:
//   node check.mjs manifests      schemas, kustomizations, policies, TM_* coverage, Dockerfile
//   node check.mjs lint           yamllint on k8s/ and docker-compose.yml; docker-compose config
//   node check.mjs negative       the policy check must reject fixtures/bad-*.yaml
//   node check.mjs scripts        bash -n scripts, README quick start vs .ci/run
// Prints "ok - ..." / "not ok - ..." per check and exits 1 when any fails.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative, dirname, basename } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const SERVICES = ['gateway', 'task', 'realtime', 'ai'];

let YAML;
try {
  YAML = await import('yaml');
} catch {
  console.error('not ok - tests/deploy has no node_modules: run `npm ci` in tests/deploy (scripts/test.sh does)');
  process.exit(1);
}

let failures = 0;
function report(name, problems) {
  if (problems.length === 0) {
    console.log(`ok - ${name}`);
  } else {
    failures++;
    console.log(`not ok - ${name}`);
    for (const p of problems) console.log(`    ${p}`);
  }
}

function walk(dir, out = []) {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.ya?ml$/.test(e)) out.push(p);
  }
  return out.sort();
}

function loadDocs(file) {
  return YAML.parseAllDocuments(readFileSync(file, 'utf8'), { merge: true }).map((d) => {
    if (d.errors.length) throw new Error(`${relative(ROOT, file)}: ${d.errors[0].message}`);
    return d.toJS();
  });
}

// Every Kubernetes object under k8s/ except kustomizations and JSON 6902 patches (arrays).
function loadObjects(files) {
  const objs = [];
  for (const f of files) {
    if (basename(f) === 'kustomization.yaml') continue;
    for (const doc of loadDocs(f)) {
      if (doc && !Array.isArray(doc) && doc.kind) objs.push({ file: relative(ROOT, f), obj: doc });
    }
  }
  return objs;
}

// ------------------------------------------------------------------ schemas

function checkCnpgCluster(o) {
  const p = [];
  const s = o.spec || {};
  if (!Number.isInteger(s.instances) || s.instances < 1) p.push('spec.instances must be an integer >= 1');
  if (!s.storage || !s.storage.size) p.push('spec.storage.size is required');
  const initdb = s.bootstrap && s.bootstrap.initdb;
  if (!initdb || !initdb.database || !initdb.owner) p.push('spec.bootstrap.initdb.{database,owner} are required');
  const roles = (s.managed && s.managed.roles) || [];
  const names = roles.map((r) => r.name);
  for (const svc of ['task', 'realtime', 'ai']) {
    if (!names.includes(`tm_${svc}`)) p.push(`managed role tm_${svc} is missing`);
  }
  for (const r of roles) {
    if (!r.name || !['present', 'absent'].includes(r.ensure)) p.push(`role ${r.name}: name and ensure present|absent required`);
    if (r.superuser || r.createrole || r.createdb || r.replication) p.push(`role ${r.name} must not be privileged`);
    if (!r.passwordSecret || !r.passwordSecret.name) p.push(`role ${r.name}: passwordSecret.name required`);
    const schema = r.name.replace(/^tm_/, '');
    const sql = (initdb && initdb.postInitApplicationSQL) || [];
    if (!sql.some((q) => new RegExp(`CREATE SCHEMA ${schema} AUTHORIZATION ${r.name}\\b`).test(q))) {
      p.push(`role ${r.name} does not own a schema ${schema} (postInitApplicationSQL)`);
    }
  }
  return p;
}

async function validateSchema(o) {
  const { apiVersion, kind } = o;
  if (apiVersion === 'postgresql.cnpg.io/v1' && kind === 'Cluster') return checkCnpgCluster(o);
  let mod;
  try {
    mod = await import(`kubernetes-models/${apiVersion}`);
  } catch {
    return [`no schema for apiVersion ${apiVersion} (a CRD needs a hand check here)`];
  }
  if (!mod[kind]) return [`no schema for ${apiVersion} ${kind}`];
  try {
    new mod[kind](o).validate();
    return [];
  } catch (e) {
    return [String(e.message).split('\n').slice(0, 5).join('; ')];
  }
}

// ------------------------------------------------------------------ policies

function podSpecOf(o) {
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job'].includes(o.kind)) return o.spec?.template?.spec;
  return null;
}

function matches(selector, labels) {
  const ml = selector?.matchLabels || {};
  return Object.keys(ml).length > 0 && Object.entries(ml).every(([k, v]) => labels?.[k] === v);
}

/** Returns problems for one set of objects; exported for the negative fixture. */
export function policyProblems(objs) {
  const p = [];
  const all = objs.map((x) => x.obj);
  for (const { file, obj: o } of objs) {
    const id = `${file}: ${o.kind}/${o.metadata?.name}`;
    if (o.kind === 'Secret' && (o.data || o.stringData)) p.push(`${id}: secrets must not be stored in k8s/ (reference them)`);
    if (o.kind === 'ServiceAccount' && o.automountServiceAccountToken !== false) {
      p.push(`${id}: automountServiceAccountToken must be false`);
    }
    const spec = podSpecOf(o);
    if (!spec) continue;
    const podSc = spec.securityContext || {};
    if (podSc.seccompProfile?.type !== 'RuntimeDefault') p.push(`${id}: pod seccompProfile RuntimeDefault missing`);
    if (!spec.topologySpreadConstraints?.length) p.push(`${id}: no topologySpreadConstraints`);
    for (const c of spec.containers || []) {
      const cid = `${id} container ${c.name}`;
      const sc = c.securityContext || {};
      if (!c.livenessProbe || !c.readinessProbe) p.push(`${cid}: liveness and readiness probes required`);
      if (o.kind === 'Deployment' && !c.startupProbe) p.push(`${cid}: startupProbe required`);
      const r = c.resources || {};
      for (const k of ['cpu', 'memory']) {
        if (!r.requests?.[k] || !r.limits?.[k]) p.push(`${cid}: resources.requests and limits for ${k} required`);
      }
      if (!(sc.runAsNonRoot === true || (podSc.runAsNonRoot === true && sc.runAsNonRoot !== false))) {
        p.push(`${cid}: runAsNonRoot required`);
      }
      if (sc.readOnlyRootFilesystem !== true) p.push(`${cid}: readOnlyRootFilesystem required`);
      if (sc.allowPrivilegeEscalation !== false) p.push(`${cid}: allowPrivilegeEscalation must be false`);
      if (!(sc.capabilities?.drop || []).includes('ALL')) p.push(`${cid}: capabilities must drop ALL`);
      for (const e of c.env || []) {
        if (/PASSWORD|SECRET|TOKEN|KEY$/.test(e.name) && typeof e.value === 'string' && e.value !== '') {
          p.push(`${cid}: ${e.name} has a literal value (use secretKeyRef)`);
        }
      }
    }
    if (o.kind !== 'Deployment') continue;
    if (o.spec?.strategy?.rollingUpdate?.maxUnavailable !== 0) p.push(`${id}: rollingUpdate.maxUnavailable must be 0`);
    const labels = o.spec?.template?.metadata?.labels;
    const hpa = all.find((h) => h.kind === 'HorizontalPodAutoscaler' && h.spec?.scaleTargetRef?.kind === 'Deployment' &&
      h.spec.scaleTargetRef.name === o.metadata.name);
    if (!hpa) {
      p.push(`${id}: no HorizontalPodAutoscaler`);
    } else {
      const res = (hpa.spec.metrics || []).map((m) => m.resource?.name);
      if (hpa.apiVersion !== 'autoscaling/v2' || !res.includes('cpu') || !res.includes('memory')) {
        p.push(`${id}: HPA must be autoscaling/v2 with cpu and memory metrics`);
      }
    }
    if (!all.some((d) => d.kind === 'PodDisruptionBudget' && matches(d.spec?.selector, labels))) {
      p.push(`${id}: no PodDisruptionBudget selects its pods`);
    }
    if (!all.some((s) => s.kind === 'Service' && s.spec?.selector && Object.entries(s.spec.selector).every(([k, v]) => labels?.[k] === v))) {
      p.push(`${id}: no Service selects its pods`);
    }
  }
  if (objs.some((x) => podSpecOf(x.obj)) && !all.some((o) => o.kind === 'NetworkPolicy' &&
      Object.keys(o.spec?.podSelector || {}).length === 0 &&
      (o.spec?.policyTypes || []).includes('Ingress') && (o.spec?.policyTypes || []).includes('Egress') &&
      !o.spec.ingress && !o.spec.egress)) {
    p.push('no default-deny NetworkPolicy (empty podSelector, Ingress+Egress, no rules)');
  }
  return p;
}

// ------------------------------------------------------------------ kustomize structure

function kustomizeProblems(baseObjs) {
  const p = [];
  for (const f of walk(join(ROOT, 'k8s')).filter((x) => basename(x) === 'kustomization.yaml')) {
    const k = loadDocs(f)[0] || {};
    const dir = dirname(f);
    for (const r of k.resources || []) {
      if (!existsSync(join(dir, r))) p.push(`${relative(ROOT, f)}: resource ${r} does not exist`);
    }
    for (const pt of k.patches || []) {
      if (pt.path && !existsSync(join(dir, pt.path))) p.push(`${relative(ROOT, f)}: patch ${pt.path} does not exist`);
      const t = pt.target || {};
      const hit = baseObjs.some(({ obj }) => (!t.kind || obj.kind === t.kind) &&
        (!t.name || new RegExp(`^${t.name}$`).test(obj.metadata?.name)));
      if (!hit) p.push(`${relative(ROOT, f)}: patch ${pt.path} targets nothing (${JSON.stringify(t)})`);
      if (pt.path) {
        const ops = loadDocs(join(dir, pt.path))[0];
        if (!Array.isArray(ops) || !ops.every((op) => op.op && op.path)) p.push(`${pt.path}: not a JSON 6902 patch list`);
      }
    }
  }
  return p;
}

// ------------------------------------------------------------------ TM_* coverage

// Required TM_* names per service: every variable the daemon's own table marks required,
// read from docs/configuration.md (generated from each binary's --help; the
// docs_configuration_in_sync test keeps it equal to the code), plus docs/config-required.txt
// for what a deployment must set although the daemon has a default or a conditional rule
// (ports, the JWT key files of ES256, issuer and audience).
export function requiredVars() {
  const req = Object.fromEntries(SERVICES.map((s) => [s, new Set()]));
  const list = join(ROOT, 'docs', 'config-required.txt');
  for (const line of readFileSync(list, 'utf8').split('\n')) {
    const m = line.replace(/#.*/, '').trim().match(/^(\w+)\s+(TM_[A-Z0-9_]+)$/);
    if (m && req[m[1]]) req[m[1]].add(m[2]);
  }
  let svc = null;
  for (const line of readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8').split('\n')) {
    const h = line.match(/^## tm-(\w+)/);
    if (h) svc = req[h[1]] ? h[1] : null;
    const v = line.match(/^\s+(TM_[A-Z0-9_]+)\s+\S+\s+\(required\)/);
    if (svc && v) req[svc].add(v[1]);
  }
  return req;
}

function coverageProblems(baseObjs) {
  const p = [];
  const req = requiredVars();
  const compose = loadDocs(join(ROOT, 'docker-compose.yml'))[0];
  const cms = Object.fromEntries(baseObjs.filter((x) => x.obj.kind === 'ConfigMap').map((x) => [x.obj.metadata.name, x.obj.data || {}]));
  for (const svc of SERVICES) {
    const cenv = compose?.services?.[svc]?.environment || {};
    const cnames = new Set(Array.isArray(cenv) ? cenv.map((e) => e.split('=')[0]) : Object.keys(cenv));
    const dep = baseObjs.find((x) => x.obj.kind === 'Deployment' && x.obj.metadata.name === `tm-${svc}`)?.obj;
    const knames = new Set();
    for (const c of dep?.spec?.template?.spec?.containers || []) {
      for (const e of c.env || []) knames.add(e.name);
      for (const ef of c.envFrom || []) for (const k of Object.keys(cms[ef.configMapRef?.name] || {})) knames.add(k);
    }
    if (!dep) p.push(`k8s: no Deployment tm-${svc}`);
    for (const v of req[svc]) {
      if (!cnames.has(v)) p.push(`docker-compose.yml: service ${svc} lacks ${v}`);
      if (dep && !knames.has(v)) p.push(`k8s: Deployment tm-${svc} lacks ${v}`);
    }
    if (req[svc].size === 0) p.push(`no required variables known for ${svc}`);
  }
  return p;
}

// ------------------------------------------------------------------ Dockerfile

export function aptList() {
  const src = readFileSync(join(ROOT, 'scripts', 'lib', 'stack.sh'), 'utf8');
  const m = src.match(/TM_APT_PACKAGES=\(([^)]*)\)/);
  if (!m) throw new Error('scripts/lib/stack.sh has no TM_APT_PACKAGES=( ... )');
  return new Set(m[1].replace(/#.*$/gm, '').split(/\s+/).filter(Boolean));
}

function dockerfileProblems() {
  const p = [];
  const text = readFileSync(join(ROOT, 'docker', 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM\s+/m).slice(1);
  const build = stages.find((s) => /\bAS\s+build\b/i.test(s.split('\n')[0]));
  const runtime = stages.find((s) => /\bAS\s+runtime\b/i.test(s.split('\n')[0]));
  if (!build || !runtime) return ['docker/Dockerfile needs stages "AS build" and "AS runtime"'];
  const allowed = aptList();
  const installs = [...build.matchAll(/apt-get install([^&\n]*)/g)];
  if (installs.length === 0) p.push('build stage installs nothing with apt-get');
  for (const m of installs) {
    for (const pkg of m[1].split(/\s+/).filter((w) => w && !w.startsWith('-'))) {
      if (!allowed.has(pkg)) p.push(`build stage installs ${pkg}, which is not in stack.sh's TM_APT_PACKAGES`);
    }
  }
  if (!/^FROM\s+debian:bookworm-slim/m.test(text)) p.push('base image must be debian:bookworm-slim');
  if (!/^USER\s+10001/m.test(runtime)) p.push('runtime stage must run as uid 10001');
  if (!/^HEALTHCHECK\b.*healthz/m.test(runtime)) p.push('runtime stage needs a HEALTHCHECK on /healthz');
  if (!/TM_MIGRATIONS_DIR=\/usr\/share\/taskmesh\/\$\{SERVICE\}\/migrations/.test(runtime)) p.push('TM_MIGRATIONS_DIR not set');
  if (/apt-get install[^\n]*-dev\b/.test(runtime)) p.push('runtime stage installs -dev packages');
  return p;
}

// ------------------------------------------------------------------ modes

async function modeManifests() {
  const baseFiles = walk(join(ROOT, 'k8s', 'base'));
  const allFiles = walk(join(ROOT, 'k8s'));
  let objs;
  try {
    objs = loadObjects(allFiles);
  } catch (e) {
    report('k8s YAML parses', [e.message]);
    return;
  }
  report('k8s YAML parses', objs.length > 0 ? [] : ['no objects found under k8s/']);
  const schema = [];
  for (const { file, obj } of objs) {
    for (const e of await validateSchema(obj)) schema.push(`${file}: ${obj.kind}/${obj.metadata?.name}: ${e}`);
  }
  report(`k8s objects valid against schemas (${objs.length} objects)`, schema);
  const baseObjs = loadObjects(baseFiles);
  report('kustomizations: resources and patch targets exist', kustomizeProblems(baseObjs));
  report('k8s policies (probes, resources, security, HPA, PDB, default deny)', policyProblems(baseObjs));
  const kinds = new Set(baseObjs.map((x) => x.obj.kind));
  const missing = ['StatefulSet', 'Cluster', 'NetworkPolicy', 'Namespace'].filter((k) => !kinds.has(k));
  report('k8s base has NATS StatefulSet, CNPG Cluster, NetworkPolicies', missing.map((k) => `no ${k}`));
  report('every required TM_* variable is set in compose and k8s', coverageProblems(baseObjs));
  report('Dockerfile: build packages from stack.sh, non-root, healthcheck', dockerfileProblems());
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout || ''}${r.stderr || ''}`.trim(), missing: r.error?.code === 'ENOENT' };
}

function modeLint() {
  const y = run('yamllint', ['-s', '-c', join(HERE, 'yamllint.yaml'), 'k8s', 'docker-compose.yml']);
  report('yamllint k8s/ docker-compose.yml', y.missing ? ['yamllint is not installed (scripts/lib/stack.sh install_deps installs it)'] :
    y.ok ? [] : y.out.split('\n').slice(0, 30));
  const dc = run('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q']);
  if (dc.missing) {
    report('docker-compose config -q', ['docker-compose is not installed (install_deps installs it)']);
  } else {
    report('docker-compose config -q', dc.ok ? [] : dc.out.split('\n').slice(0, 20));
  }
}

function modeNegative() {
  const dir = join(HERE, 'fixtures');
  const objs = loadObjects(walk(dir).filter((f) => basename(f).startsWith('bad-')));
  const problems = policyProblems(objs).join('\n');
  const expect = ['probes required', 'resources.requests', 'runAsNonRoot required', 'readOnlyRootFilesystem required',
    'no HorizontalPodAutoscaler', 'no PodDisruptionBudget', 'maxUnavailable must be 0', 'literal value',
    'automountServiceAccountToken', 'default-deny'];
  const p = expect.filter((e) => !problems.includes(e)).map((e) => `policy check did not report "${e}" for the bad fixture`);
  if (objs.length === 0) p.push('no fixtures/bad-*.yaml');
  report('policy check rejects the bad fixture', p);
  const good = loadObjects(walk(join(ROOT, 'k8s', 'base')));
  report('policy check accepts k8s/base', policyProblems(good));
}

function modeScripts() {
  const p = [];
  for (const f of ['scripts/lib/stack.sh', 'scripts/start.sh', 'scripts/stop.sh', 'scripts/test.sh', '.ci/run']) {
    const r = run('bash', ['-n', f]);
    if (!r.ok) p.push(`${f}: ${r.out}`);
    if (!/set -euo pipefail/.test(readFileSync(join(ROOT, f), 'utf8')) && f !== 'scripts/lib/stack.sh') p.push(`${f}: no set -euo pipefail`);
  }
  report('scripts parse (bash -n) and use strict mode', p);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const sec = readme.split(/^## /m).find((s) => /^quick ?start/i.test(s)) || '';
  const block = (sec.match(/```[a-z]*\n([\s\S]*?)```/) || [])[1] || '';
  const cmds = block.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const q = [];
  if (cmds.length !== 2 || cmds[0] !== 'scripts/start.sh' || cmds[1] !== 'scripts/test.sh') {
    q.push(`README quick start block must hold exactly scripts/start.sh and scripts/test.sh (got ${JSON.stringify(cmds)})`);
  }
  if (!readFileSync(join(ROOT, '.ci', 'run'), 'utf8').split('\n').some((l) => l.trim() === cmds[1])) {
    q.push('.ci/run does not call the README test command');
  }
  report('README quick start and .ci/run agree', q);
}

const mode = process.argv[2] || 'manifests';
const modes = { manifests: modeManifests, lint: modeLint, negative: modeNegative, scripts: modeScripts };
if (!modes[mode]) {
  console.error(`unknown mode ${mode}; one of ${Object.keys(modes).join(', ')}`);
  process.exit(2);
}
await modes[mode]();
console.log(failures === 0 ? `# ${mode}: all checks passed` : `# ${mode}: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
