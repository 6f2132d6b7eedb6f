// The stack under test, from the environment (scripts/web-e2e.sh sets these).
export interface Stack {
  web: string;
  ingest: string;
  apiToken: string;
  ingestToken: string;
}

export function stack(): Stack {
  const missing = ['TOCSIN_WEB_URL', 'TOCSIN_INGEST_URL', 'TOCSIN_API_TOKEN', 'TOCSIN_INGEST_TOKEN'].filter((name) => !process.env[name]);
  if (missing.length) {
    throw new Error(`set ${missing.join(', ')} (scripts/web-e2e.sh starts a stack and sets them)`);
  }
  return {
    web: process.env.TOCSIN_WEB_URL!.replace(/\/$/, ''),
    ingest: process.env.TOCSIN_INGEST_URL!.replace(/\/$/, ''),
    apiToken: process.env.TOCSIN_API_TOKEN!,
    ingestToken: process.env.TOCSIN_INGEST_TOKEN!,
  };
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
