/**
 * The status of a plain HTTP request, with the body read to the end: an unread body keeps the
 * connection busy, and closing the gateway would then wait for it.
 */
export async function statusOf(url: string | URL, init?: RequestInit): Promise<number> {
  const response = await fetch(url, init);
  await response.arrayBuffer();
  return response.status;
}
