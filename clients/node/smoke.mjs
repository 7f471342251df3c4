// Smoke test of the Node client against a running mesh, through Envoy's gRPC port:
// creates a bot with an API key, lists bots, reads ten ticks from StreamPrices, and checks
// that a call without a key is UNAUTHENTICATED (API_KEY_MISSING).
//
//   BOTMESH_API_KEY=bm_… node smoke.mjs [--address localhost:8080] [--market BTC-USDT] [--ticks 10]
//
// The key needs bots:write and read (or admin). Each step prints what it did; any failure
// exits non-zero with the step and the gRPC status. The key's secret is never printed.

import { parseArgs } from 'node:util';

import { codeName, connect, errorInfo, redact } from './client.mjs';

const { values: args } = parseArgs({
  options: {
    address: { type: 'string', default: process.env.BOTMESH_GRPC_ADDRESS ?? 'localhost:8080' },
    market: { type: 'string', default: 'BTC-USDT' },
    ticks: { type: 'string', default: '10' },
  },
});
const apiKey = process.env.BOTMESH_API_KEY ?? '';
const wantedTicks = Number.parseInt(args.ticks, 10);

class StepFailed extends Error {}

function check(condition, message) {
  if (!condition) throw new StepFailed(message);
}

async function step(title, run) {
  process.stdout.write(`- ${title}\n`);
  const result = await run();
  process.stdout.write(`  ok: ${result}\n`);
}

async function readTicks(mesh, market, count) {
  const call = mesh.marketData.StreamPrices({ market });
  const ticks = [];
  try {
    for await (const item of call) {
      if (item.item !== 'ticker') continue; // heartbeats keep the stream open
      const { ticker } = item;
      check(ticker.market === market, `a tick of ${ticker.market}, not ${market}`);
      check(Number(ticker.last) > 0, `a tick without a price: ${JSON.stringify(ticker)}`);
      ticks.push(ticker);
      process.stdout.write(`  tick ${ticks.length}: ${ticker.market} last ${ticker.last} (${ticker.exchange})\n`);
      if (ticks.length === count) break;
    }
  } finally {
    call.cancel();
  }
  check(ticks.length === count, `the stream ended after ${ticks.length} of ${count} ticks`);
  return ticks;
}

async function main() {
  check(apiKey, 'set BOTMESH_API_KEY (a key with bots:write and read)');
  check(Number.isInteger(wantedTicks) && wantedTicks > 0, '--ticks must be a positive integer');
  const mesh = connect({ address: args.address, apiKey });
  process.stdout.write(`botmesh at ${args.address}, API key ${redact(apiKey)}\n`);
  try {
    let created;
    await step('CreateBot with the API key', async () => {
      const request = {
        name: `node smoke ${Date.now()}`,
        strategy: 'ma_crossover',
        strategy_params: { fast: '9', slow: '21' },
        markets: [args.market],
        timeframe: '1h',
      };
      ({ bot: created } = await mesh.marketplace.CreateBot(request, {
        idempotencyKey: `node-smoke-${process.pid}-${Date.now()}`,
      }));
      check(/^bot_/.test(created.bot_id), `no bot id in ${JSON.stringify(created)}`);
      return `${created.bot_id} "${created.name}" (${created.strategy}, ${created.markets.join(',')})`;
    });
    await step('ListBots through Envoy', async () => {
      const { bots } = await mesh.marketplace.ListBots({ page_size: 100 });
      check(bots.some((bot) => bot.bot_id === created.bot_id), `${created.bot_id} is not listed`);
      return `${bots.length} bots, ${created.bot_id} among them`;
    });
    await step(`StreamPrices ${args.market}: ${wantedTicks} ticks`, async () => {
      const ticks = await readTicks(mesh, args.market, wantedTicks);
      return `${ticks.length} ticks, last ${ticks.at(-1).last}`;
    });
    await step('ListBots without an API key is refused', async () => {
      let refused = null;
      try {
        await mesh.marketplace.ListBots({}, { apiKey: '' });
      } catch (err) {
        refused = err;
      }
      check(refused, 'ListBots without a key answered');
      const info = errorInfo(refused);
      check(codeName(refused) === 'UNAUTHENTICATED', `${codeName(refused)}: ${refused.details}`);
      check(info?.reason === 'API_KEY_MISSING', `ErrorInfo ${JSON.stringify(info)}`);
      return `${codeName(refused)} (${info.reason}): ${refused.details}`;
    });
  } finally {
    mesh.close();
  }
  process.stdout.write('smoke: all steps passed\n');
}

main().catch((err) => {
  const detail = err instanceof StepFailed ? err.message : `${codeName(err)}: ${err.details ?? err.message}`;
  process.stderr.write(`smoke FAILED: ${detail}\n`);
  const info = errorInfo(err);
  if (info) process.stderr.write(`  ErrorInfo: ${JSON.stringify(info)}\n`);
  process.exit(1);
});
