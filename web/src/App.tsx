import { useEffect, useState } from 'react';

interface Ticker {
  symbol: string;
  lastPrice: string;
  priceChangePercent: string;
}

/** First cut: the markets the server lists, until the terminal lands. */
export function App() {
  const [tickers, setTickers] = useState<Ticker[] | null>(null);
  useEffect(() => {
    fetch('/api/v3/ticker/24hr')
      .then((r) => r.json() as Promise<Ticker[]>)
      .then(setTickers)
      .catch(() => setTickers([]));
  }, []);
  return (
    <main className="mx-auto max-w-3xl p-4">
      <h1 className="mb-4 text-2xl font-semibold">FlowEx</h1>
      {tickers === null ? (
        <p>Loading…</p>
      ) : (
        <table className="grid-table">
          <thead>
            <tr>
              <th scope="col">Market</th>
              <th scope="col">Last price</th>
              <th scope="col">24h change</th>
            </tr>
          </thead>
          <tbody>
            {tickers.map((t) => (
              <tr key={t.symbol}>
                <td>{t.symbol}</td>
                <td className="num">{t.lastPrice}</td>
                <td className="num">{t.priceChangePercent}%</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
