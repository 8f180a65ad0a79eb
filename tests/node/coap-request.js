// One CoAP request with the npm `coap` package (node-coap), printed as JSON for the C# interop tests:
//   node coap-request.js <port> <method> <path> [payloadHex] [option=value ...]
// Options are numeric CoAP options with UTF-8 string values (e.g. 256=token) or the name "observe".
'use strict';
const coap = require('coap');

const [port, method, path, payloadHex, ...extra] = process.argv.slice(2);
const [pathname, query] = path.split('?');
const request = coap.request({
  hostname: '127.0.0.1',
  port: Number(port),
  method,
  pathname,
  query: query || '',
  confirmable: true,
});
for (const option of extra) {
  const [name, value] = option.split('=');
  // node-coap only sends options it knows by name unless they are registered as numbers.
  coap.registerOption(name, (s) => Buffer.from(s), (b) => b.toString());
  request.setOption(name, Buffer.from(value));
}
if (payloadHex) {
  request.setOption('Content-Format', 'application/cbor');
  request.write(Buffer.from(payloadHex, 'hex'));
}
const timer = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(2); }, 20000);
request.on('response', (response) => {
  clearTimeout(timer);
  const format = response.headers['Content-Format'];
  // Exit only once stdout is flushed: a pipe takes 64 KiB at a time.
  process.stdout.write(JSON.stringify({ code: response.code, format: format === undefined ? null : String(format), payloadHex: response.payload.toString('hex') }) + '\n', () => process.exit(0));
});
request.on('error', (error) => { clearTimeout(timer); console.log(JSON.stringify({ error: String(error) })); process.exit(1); });
request.end();
