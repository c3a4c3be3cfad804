// Imported first by bench/run.ts: libraries read NODE_ENV from the environment when they load
// (graphql-js swaps its instanceof checks for slower multi-realm-aware ones outside production;
// express too), while loadConfig only tells the app. A deployment sets NODE_ENV=production in
// the environment, so the benchmark must as well, before anything imports graphql.
process.env.NODE_ENV = 'production';
