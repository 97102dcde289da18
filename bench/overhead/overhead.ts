/**
 * Per-request overhead: trackql against bare graphql-yoga, side by side in one run.
 *
 *   reference  bare Yoga (same version, no plugins, one-field schema) in its own process: `mutation { __typename }`
 *   strict     the same bare Yoga without its default request-body TransformStream (`maxRequestBodySize: false`):
 *              trackql bounds bodies without that stream, so this reference does only what trackql's requests
 *              also need; on this machine the stream was more than half of the default reference's CPU
 *   trivial    trackql `mutation { __typename }` with a user token (JWT, rate limit, armor, query cost, input
 *              guard, request id, Prometheus, CSRF, graphql-jit, context: every protection on)
 *   increment  trackql one-event `increment` of a public metric with a user token, durably acknowledged
 *
 * Rounds alternate reference / strict / trivial / increment (BENCH_ROUNDS, BENCH_SECONDS each, BENCH_CONNECTIONS
 * connections, autocannon in this process); medians and the ratios to the reference's median. trackql runs
 * with NODE_ENV=production against PostgreSQL (DATABASE_URL), with rate limits on but budgets too large to
 * refuse anything (the limiter still counts every request).
 *
 *   node --experimental-strip-types bench/overhead/overhead.ts        (prints the rows, writes bench/results/overhead-run.md)
 *   BENCH_PROFILE=dir ...                                             (also --cpu-prof of trackql in dir, of both bare Yogas in dir/bare-yoga*)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '../../test/support/database.ts';
import { post, signTestToken, startInstance } from '../../test/support/instances.ts';
import { perSecond, postLoad } from '../load.ts';
import { describeMachine, median, processCpuSeconds as cpuSeconds, type BenchRow } from '../machine.ts';

const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const PROFILE_DIR = process.env['BENCH_PROFILE'];

const HUGE = '100000000';

/** Starts bench/overhead/bare-yoga.ts and resolves with its GraphQL URL. */
async function startBareYoga(bodyStream = true): Promise<{ url: string; pid: number | undefined; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [
      '--experimental-strip-types',
      '--disable-warning=ExperimentalWarning',
      ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}/bare-yoga${bodyStream ? '' : '-strict'}`] : []),
      fileURLToPath(new URL('./bare-yoga.ts', import.meta.url)),
    ],
    {
      env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production', ...(bodyStream ? {} : { BARE_YOGA_BODY_STREAM: 'off' }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const match = /listening (\d+)/.exec(chunk.toString());
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`bare Yoga exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/graphql`, pid: child.pid, stop: () => child.kill('SIGTERM') };
}

export async function run(): Promise<{ rows: BenchRow[]; notes: string[] }> {
  process.env['DATABASE_URL'] ??= 'postgres://postgres@127.0.0.1:5432/postgres';
  const database = await createTestDatabase();
  const bare = await startBareYoga();
  const strictBare = await startBareYoga(false);
  const instance = await startInstance({
    databaseUrl: database.url,
    env: {
      LOG_LEVEL: 'info',
      NODE_ENV: 'production',
      RATE_LIMIT_REQUESTS: HUGE,
      RATE_LIMIT_INCREMENTS: HUGE,
      ...(PROFILE_DIR ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${PROFILE_DIR}` } : {}),
    },
  }).catch(async (error: unknown) => {
    bare.stop();
    strictBare.stop();
    await database.drop();
    throw error;
  });
  try {
    const service = await signTestToken('bench-overhead-service', ['service']);
    const user = await signTestToken('bench-overhead-user');
    const setup = await post(
      instance.url,
      'mutation { registerDomain(ref: "overhead", name: "Overhead") { ref } registerMetric(domain: "overhead", ref: "views", name: "Views", public: true) { ref } }',
      {},
      service,
    );
    if (setup.body.errors) throw new Error(JSON.stringify(setup.body.errors));

    const trivialBody = JSON.stringify({ query: 'mutation { __typename }' });
    const incrementBody = JSON.stringify({
      query: 'mutation($e: [IncrementInput!]!) { increment(events: $e) { accepted } }',
      variables: { e: [{ domain: 'overhead', metric: 'views', object: { type: 'Page', id: 'p1' } }] },
    });
    const load = (url: string, body: string, seconds: number) => postLoad(url, user, body, seconds, CONNECTIONS);

    // Warm-up: JIT, connection pool, catalog cache, token cache.
    await load(bare.url, trivialBody, 2);
    await load(strictBare.url, trivialBody, 2);
    await load(instance.url, trivialBody, 2);
    await load(instance.url, incrementBody, 2);

    const reference: number[] = [];
    const strict: number[] = [];
    const trivial: number[] = [];
    const increment: number[] = [];
    // Server CPU time per answered request, per round: on a shared machine the requests/s of a round also
    // depend on what else runs; the CPU a server process spends per request does not (much).
    const cpu = { reference: [] as number[], strict: [] as number[], trivial: [] as number[], increment: [] as number[] };
    const serverPid = instance.server.child.pid;
    const measured = async (url: string, body: string, pid: number | undefined, into: number[], cpuInto: number[]) => {
      const before = cpuSeconds(pid);
      const result = await load(url, body, SECONDS);
      cpuInto.push(((cpuSeconds(pid) - before) / result['2xx']) * 1e6);
      into.push(perSecond(result));
      return result;
    };
    let acknowledged = 0;
    for (let round = 0; round < ROUNDS; round++) {
      await measured(bare.url, trivialBody, bare.pid, reference, cpu.reference);
      await measured(strictBare.url, trivialBody, strictBare.pid, strict, cpu.strict);
      await measured(instance.url, trivialBody, serverPid, trivial, cpu.trivial);
      const inc = await measured(instance.url, incrementBody, serverPid, increment, cpu.increment);
      acknowledged += inc['2xx'];
    }
    const total = await post<{ domain: { metric: { total: number } } }>(
      instance.url,
      '{ domain(ref: "overhead") { metric(ref: "views") { total } } }',
      {},
      service,
    );
    const counted = total.body.data?.domain.metric.total ?? 0;

    const ref = median(reference);
    const trivialRatio = median(trivial) / ref;
    const incrementRatio = median(increment) / ref;
    const refCpu = median(cpu.reference);
    const trivialCpuRatio = refCpu / median(cpu.trivial);
    const incrementCpuRatio = refCpu / median(cpu.increment);
    const strictRef = median(strict);
    const strictCpu = median(cpu.strict);
    const us = (v: number) => `${v.toFixed(0)} µs`;
    const both = (value: number, ref: number, refCpuUs: number, cpuUs: number) =>
      `req/s **${(value / ref).toFixed(2)} ×**, CPU **${(refCpuUs / cpuUs).toFixed(2)} ×**`;
    const rows: BenchRow[] = [
      { benchmark: `bare graphql-yoga, mutation { __typename } (reference, ${CONNECTIONS} connections), median of ${ROUNDS}`, value: `${ref.toFixed(0)} req/s; server CPU ${us(refCpu)} per request`, target: '–', met: null },
      { benchmark: 'trackql mutation { __typename } with a user token: requests/s ratio', value: `${median(trivial).toFixed(0)} req/s, **${trivialRatio.toFixed(2)} ×** the reference`, target: '>= 0.80 ×', met: trivialRatio >= 0.8 },
      { benchmark: 'trackql mutation { __typename } with a user token: server CPU per request, as a ratio', value: `${us(median(cpu.trivial))}, **${trivialCpuRatio.toFixed(2)} ×** the reference's rate`, target: '>= 0.80 ×', met: trivialCpuRatio >= 0.8 },
      { benchmark: 'trackql one-event increment with a user token (durable): requests/s ratio', value: `${median(increment).toFixed(0)} req/s, **${incrementRatio.toFixed(2)} ×** the reference`, target: '>= 0.65 ×', met: incrementRatio >= 0.65 },
      { benchmark: 'trackql one-event increment: server CPU per request, as a ratio', value: `${us(median(cpu.increment))}, **${incrementCpuRatio.toFixed(2)} ×** the reference's rate`, target: '>= 0.65 ×', met: incrementCpuRatio >= 0.65 },
      { benchmark: `stricter reference: bare graphql-yoga without its body-size TransformStream (maxRequestBodySize: false), median of ${ROUNDS}`, value: `${strictRef.toFixed(0)} req/s; server CPU ${us(strictCpu)} per request`, target: '–', met: null },
      { benchmark: 'trackql mutation { __typename } against the stricter reference', value: both(median(trivial), strictRef, strictCpu, median(cpu.trivial)), target: '(>= 0.80 ×)', met: null },
      { benchmark: 'trackql one-event increment against the stricter reference', value: both(median(increment), strictRef, strictCpu, median(cpu.increment)), target: '(>= 0.65 ×)', met: null },
    ];
    const notes = [
      `Rounds of ${SECONDS} s alternated reference / stricter reference / trivial / increment, ${ROUNDS} times (2xx answers only). Reference ${reference.map((v) => v.toFixed(0)).join(', ')}; stricter reference ${strict.map((v) => v.toFixed(0)).join(', ')}; trivial ${trivial.map((v) => v.toFixed(0)).join(', ')}; increment ${increment.map((v) => v.toFixed(0)).join(', ')} req/s. Server CPU per request (µs): reference ${cpu.reference.map((v) => v.toFixed(0)).join(', ')}; stricter reference ${cpu.strict.map((v) => v.toFixed(0)).join(', ')}; trivial ${cpu.trivial.map((v) => v.toFixed(0)).join(', ')}; increment ${cpu.increment.map((v) => v.toFixed(0)).join(', ')} (the increment's CPU does not include PostgreSQL's).`,
      `Check: the measured increment rounds acknowledged ${acknowledged} increments; the total (warm-up included) is ${counted}: ${counted >= acknowledged ? 'nothing acknowledged is missing' : 'SOME ACKNOWLEDGED INCREMENTS ARE MISSING'}.`,
    ];
    return { rows, notes };
  } finally {
    bare.stop();
    strictBare.stop();
    await instance.stop();
    await database.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { rows, notes } = await run();
  console.table(rows);
  for (const note of notes) console.log(`- ${note}`);
  const file = fileURLToPath(new URL('../results/overhead-run.md', import.meta.url));
  fs.writeFileSync(
    file,
    [
      `Run ${new Date().toISOString()} by bench/overhead/overhead.ts on ${describeMachine()}.`,
      '',
      '| benchmark | measured | target | met |',
      '|---|---|---|---|',
      ...rows.map((r) => `| ${r.benchmark} | ${r.value} | ${r.target} | ${r.met === null ? '–' : r.met ? 'yes' : '**no**'} |`),
      '',
      ...notes.map((n) => `- ${n}`),
      '',
    ].join('\n'),
  );
  console.log(`wrote ${file}`);
}
