// Preloaded into API child processes whose memory a benchmark reads (node --expose-gc --import
// this; the fan-out memory probe and the soak): SIGUSR2 runs a full garbage collection, so a
// reading taken after it shows live memory rather than when the collector last ran. Plain
// JavaScript: it loads before tsx.
process.on('SIGUSR2', () => globalThis.gc?.());
