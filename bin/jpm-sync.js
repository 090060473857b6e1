#!/usr/bin/env node
// The CLI runs TypeScript directly with Node 24's type stripping (see README, "Why no build step").
import { runCli } from '../src/main/cli.ts';

process.exitCode = await runCli(process.argv.slice(2));
