#!/usr/bin/env node
// The CLI runs TypeScript directly with Node 24's type stripping (see README, "Why no build step").
// An older Node cannot even load the .ts modules, so say what to do before importing them.
const major = Number(process.versions.node.split('.')[0]);
if (major !== 24) {
  process.stderr.write(
    `jpm-sync needs Node 24, this is ${process.version}: run it as \`npm run cli -- …\` (npm install brings Node 24 as the \`node\` dev dependency).\n`,
  );
  process.exit(1);
}
const { runCli } = await import('../src/main/cli.ts');

process.exitCode = await runCli(process.argv.slice(2));
