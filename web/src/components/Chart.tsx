import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { CandlestickSeries, ColorType, createChart, HistogramSeries, type IChartApi, type ISeriesApi, type UTCTimestamp } from 'lightweight-charts';
import { watchCandles, type Candle } from '../lib/live';
import type { Market } from '../lib/market';

export const INTERVALS = ['1m', '5m', '15m', '1h', '4h', '1d'] as const;

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

// The chart library draws with numbers; these conversions are for pixels
// only, never for arithmetic on money.
const bar = (c: Candle) => ({ time: (c.openTime / 1000) as UTCTimestamp, open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close) });
const vol = (c: Candle, up: string, down: string) => ({ time: (c.openTime / 1000) as UTCTimestamp, value: Number(c.volume), color: Number(c.close) >= Number(c.open) ? up : down });

export function Chart({ market, dark }: { market: Market; dark: boolean }) {
  const { t } = useTranslation();
  const box = useRef<HTMLDivElement>(null);
  const [interval, setInterval] = useState<string>('1m');
  const chart = useRef<{ api: IChartApi; candles: ISeriesApi<'Candlestick'>; volume: ISeriesApi<'Histogram'> } | null>(null);

  useEffect(() => {
    if (!box.current) return;
    const api = createChart(box.current, { autoSize: true, timeScale: { timeVisible: true, secondsVisible: false } });
    const minMove = Number(market.tickSize.toFixed());
    const candles = api.addSeries(CandlestickSeries, { priceFormat: { type: 'price', precision: market.priceDp, minMove } });
    const volume = api.addSeries(HistogramSeries, { priceScaleId: '', priceFormat: { type: 'volume' } });
    volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    chart.current = { api, candles, volume };
    return () => {
      chart.current = null;
      api.remove();
    };
  }, [market]);

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    const [up, down, fg, line, panel] = ['--up', '--down', '--muted', '--line', '--panel'].map(cssVar) as [string, string, string, string, string];
    c.api.applyOptions({ layout: { background: { type: ColorType.Solid, color: panel }, textColor: fg }, grid: { vertLines: { color: line }, horzLines: { color: line } } });
    c.candles.applyOptions({ upColor: up, downColor: down, wickUpColor: up, wickDownColor: down, borderVisible: false });
  }, [dark, market]);

  useEffect(() => {
    const c = chart.current;
    if (!c) return;
    const [up, down] = [cssVar('--up') + '80', cssVar('--down') + '80'];
    return watchCandles(
      market.symbol,
      interval,
      (list) => {
        c.candles.setData(list.map(bar));
        c.volume.setData(list.map((k) => vol(k, up, down)));
      },
      (k) => {
        c.candles.update(bar(k));
        c.volume.update(vol(k, up, down));
      },
    );
  }, [market, interval]);

  return (
    <div className="flex h-full flex-col">
      <div className="flex items-center gap-1 border-b border-line px-2 py-1" role="group" aria-label={t('trade.interval')}>
        {INTERVALS.map((i) => (
          <button key={i} type="button" aria-pressed={interval === i} className={`rounded px-2 py-0.5 text-xs ${interval === i ? 'bg-panel2 text-accent' : 'text-muted hover:text-fg'}`} onClick={() => setInterval(i)}>
            {i}
          </button>
        ))}
      </div>
      <div ref={box} className="min-h-64 flex-1" title={t('trade.mark', { symbol: market.symbol })} />
    </div>
  );
}
