/** Starts the simulators on 127.0.0.1 and prints their URLs (filled in by the simulator issues). */
console.log(JSON.stringify({}));
