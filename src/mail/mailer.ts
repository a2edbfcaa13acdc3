import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import { newId } from '../ids/ids.js';

/**
 * Outgoing e-mail. With SMTP settings, messages go over SMTP (nodemailer).
 * Without them (embedded mode), each message is written as an .eml file to an
 * outbox folder and the log says where: nothing is silently dropped.
 */
export type MailMessage = {
  to: string;
  subject: string;
  text: string;
  html?: string;
  headers?: Record<string, string>;
};

export type MailSettings =
  | { kind: 'smtp'; url: string; from: string }
  | { kind: 'outbox'; dir: string; from: string };

export type SentMail = { messageId: string; delivery: 'smtp' | 'outbox'; file?: string };

export type Mailer = {
  send: (message: MailMessage) => Promise<SentMail>;
  close: () => void;
};

/**
 * A message that could not be sent, with what the SMTP exchange said about it
 * (nodemailer's code, the server's reply code, the command) and nothing else:
 * nodemailer's own error carries the refused addresses and the server's reply
 * text, which usually quotes the address, and errors end up in the log.
 */
export class MailError extends Error {
  override name = 'MailError';
  readonly code: string | undefined;
  readonly responseCode: number | undefined;
  readonly command: string | undefined;

  constructor(error: unknown) {
    const { code, responseCode, command } = (error ?? {}) as {
      code?: unknown;
      responseCode?: unknown;
      command?: unknown;
    };
    const known = {
      code: typeof code === 'string' ? code : undefined,
      responseCode: typeof responseCode === 'number' ? responseCode : undefined,
      // The verb alone ("RCPT TO"), never what follows it.
      command: typeof command === 'string' ? /^[A-Z]+(?: [A-Z]+)?/.exec(command)?.[0] : undefined,
    };
    const parts = [
      known.code,
      known.responseCode ? `SMTP ${known.responseCode}` : undefined,
      known.command ? `at ${known.command}` : undefined,
    ].filter(Boolean);
    super(`The mail could not be sent${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`);
    this.code = known.code;
    this.responseCode = known.responseCode;
    this.command = known.command;
  }
}

export function createMailer(settings: MailSettings, logger: Logger): Mailer {
  if (settings.kind === 'smtp') {
    const transport = nodemailer.createTransport(settings.url);
    return {
      send: async (message) => {
        const info = await transport
          .sendMail({ from: settings.from, ...message })
          .catch((error: unknown) => {
            throw new MailError(error);
          });
        // The recipient is personal data: it stays out of the log.
        logger.info({ messageId: info.messageId }, 'mail sent over SMTP');
        return { messageId: String(info.messageId), delivery: 'smtp' };
      },
      close: () => transport.close(),
    };
  }
  const transport = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'unix',
  });
  return {
    send: async (message) => {
      const info = await transport.sendMail({ from: settings.from, ...message });
      mkdirSync(settings.dir, { recursive: true, mode: 0o700 });
      const file = path.join(settings.dir, `${newId('mail')}.eml`);
      writeFileSync(file, info.message as Buffer, { mode: 0o600 });
      logger.info({ file }, 'no SMTP configured: mail written to the outbox folder');
      return { messageId: String(info.messageId), delivery: 'outbox', file };
    },
    close: () => {},
  };
}
