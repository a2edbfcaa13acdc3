import { measureHttp, startChild } from './lib.js';
for (const v of ['bare', 'log', 'rid', 'zod', 'hooks', 'log,rid,zod,hooks', 'bare']) {
  const { info, stop } = await startChild<{ port: number }>('bench/zz-variant-server.ts', { V: v });
  await measureHttp({ url: `http://127.0.0.1:${info.port}/x` }, { seconds: 1 });
  const m = await measureHttp({ url: `http://127.0.0.1:${info.port}/x` }, { seconds: 3 });
  console.log(v.padEnd(20), Math.round(m.requestsPerSecond));
  await stop();
}
