import { describe, expect, it } from 'vitest';
import { act, render, screen } from '@testing-library/react';
import { i18n } from '../i18n';
import { Field, Tabs } from './ui';
import { useTranslation } from 'react-i18next';

function Title() {
  const { t } = useTranslation();
  return <h1>{t('trade.book')}</h1>;
}

describe('components', () => {
  it('a field ties its label, hint and error to the input', () => {
    render(<Field label="Price (USDT)" hint="In ticks of 0.01" error="Must be a multiple of 0.01." defaultValue="1.005" />);
    const input = screen.getByLabelText('Price (USDT)');
    expect(input.getAttribute('aria-invalid')).toBe('true');
    const described = (input.getAttribute('aria-describedby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent);
    expect(described).toEqual(['Must be a multiple of 0.01.', 'In ticks of 0.01']);
  });

  it('tabs say which one is selected', () => {
    render(<Tabs label="History" value="b" onChange={() => undefined} tabs={[['a', 'Open'], ['b', 'Trades']]} />);
    expect(screen.getByRole('tab', { name: 'Trades' }).getAttribute('aria-selected')).toBe('true');
    expect(screen.getByRole('tab', { name: 'Open' }).getAttribute('aria-selected')).toBe('false');
  });

  it('switching the language re-renders translated text and sets <html lang>', async () => {
    await act(() => i18n.changeLanguage('en'));
    render(<Title />);
    expect(screen.getByRole('heading').textContent).toBe('Order book');
    await act(() => i18n.changeLanguage('zh-CN'));
    expect(screen.getByRole('heading').textContent).toBe('订单簿');
    expect(document.documentElement.lang).toBe('zh-CN');
    await act(() => i18n.changeLanguage('en'));
  });
});
