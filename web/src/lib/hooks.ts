// Shared data hooks: the session's user, exchange info, the account, and
// the user's orders, refetched over REST while the user stream is not live.
import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, session, type UserView } from './api';
import { toMarket, type ExchangeInfo, type Market } from './market';
import { hub, userStream, type LiveStatus } from './live';

export function useUser(): UserView | null {
  return useSyncExternalStore(
    (cb) => session.onChange(cb),
    () => session.user,
  );
}

export function useMarkets(): { markets: Market[] | undefined; error: Error | null; refetch: () => void } {
  const q = useQuery({
    queryKey: ['exchangeInfo'],
    queryFn: () => api<ExchangeInfo>('/api/v3/exchangeInfo', { auth: false }),
    staleTime: 60_000,
  });
  const markets = useMemo(() => q.data?.symbols.map(toMarket), [q.data]);
  return { markets, error: q.error, refetch: () => void q.refetch() };
}

function useStatus(source: { status: LiveStatus; onStatus: (cb: (s: LiveStatus) => void) => () => void }): LiveStatus {
  return useSyncExternalStore(
    (cb) => source.onStatus(cb),
    () => source.status,
  );
}

/** The market stream's state. Asking opens the stream, so pages that watch
 * no market (wallet, security, admin) still show it live, not polling. */
export function useMarketStatus(): LiveStatus {
  useEffect(() => hub.ensure(), []);
  return useStatus(hub);
}
export const useUserStatus = () => useStatus(userStream);

/** While the user stream is down: how often to refetch private data. */
export function useUserRefetch(ms: number): number | false {
  return useUserStatus() === 'live' ? false : ms;
}

/** Keeps the user stream open while signed in; its events refresh the user's queries. */
export function useUserEvents(): void {
  const user = useUser();
  const qc = useQueryClient();
  useEffect(() => {
    if (!user) return;
    return userStream.watch(() => {
      void qc.invalidateQueries({ queryKey: ['private'] });
    });
  }, [user, qc]);
}

export interface Balance {
  asset: string;
  free: string;
  locked: string;
}

export function useAccount() {
  const user = useUser();
  const refetchInterval = useUserRefetch(5_000);
  return useQuery({
    queryKey: ['private', 'account'],
    queryFn: () => api<{ balances: Balance[]; commissionRates: { maker: string; taker: string } }>('/api/v3/account'),
    enabled: user !== null,
    refetchInterval,
  });
}

/** The current time, ticking every `ms` (for relative displays). */
export function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}

export function useFavourites(): [Set<string>, (symbol: string) => void] {
  const [fav, setFav] = useState<Set<string>>(() => new Set(JSON.parse(localStorage.getItem('flowex.fav') ?? '[]') as string[]));
  const toggle = (symbol: string) =>
    setFav((old) => {
      const next = new Set(old);
      if (next.has(symbol)) next.delete(symbol);
      else next.add(symbol);
      localStorage.setItem('flowex.fav', JSON.stringify([...next]));
      return next;
    });
  return [fav, toggle];
}
