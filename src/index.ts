/**
 * The package root: what `import ... from 'general-socket'` offers a program that embeds the gateway
 * (build one from a configuration, listen, close) and the registry of the errors it reports. The SDK
 * for services that call a running gateway is `general-socket/client`; the command line is
 * `general-socket`. test/package.test.ts pins this list.
 */
export { createGateway, type Gateway } from './gateway.js';
export { ConfigError, loadConfig, type Config } from './config.js';
export {
  GatewayError,
  errorRegistry,
  socketErrorRegistry,
  type ErrorBody,
  type ErrorCode,
  type SocketErrorCode,
} from './errors.js';
