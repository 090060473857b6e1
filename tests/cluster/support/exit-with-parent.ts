/**
 * Preloaded (`node --import`) into every product process of the cluster tests: when the test process that started
 * it dies (a crash, a timeout, a Ctrl-C), this process is handed to another parent, and then it exits too instead of
 * living on as an orphan holding ports, locks and connections. Unref'd: it never keeps a stopping process alive.
 */
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) {
    process.exit(1);
  }
}, 500).unref();
