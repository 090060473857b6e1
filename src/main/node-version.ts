/**
 * Stops a process started with the wrong Node before anything else loads. The project runs on
 * Node 24 (TypeScript type stripping, `node:` APIs of that line); `npm install` brings it as the `node`
 * dev dependency and every npm script runs it, whatever Node the machine has. The requirement is
 * also in package.json's `devEngines` (set to `ignore` so the machine's older npm does not warn at
 * install time about a Node it will never run our code with). Import this first in an entry point.
 */
const REQUIRED_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);

if (major !== REQUIRED_MAJOR) {
  process.stderr.write(
    `jpm-sync needs Node ${REQUIRED_MAJOR}, this is ${process.version}. Run it through npm (npm start, npm run cli -- …), ` +
      `or with node_modules/.bin/node, which npm install brings.\n`,
  );
  process.exit(1);
}
