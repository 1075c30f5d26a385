// 简体中文。键与 en.ts 完全一致（测试会检查）。
import type { Strings } from './index';

export const zh: Strings = {
  app: { name: 'FlowEx', skip: '跳到主要内容', loading: '加载中…', retry: '重试', error: '出错了：{{message}}', notFound: '页面不存在。', home: '前往市场' },
  nav: { markets: '市场', trade: '交易', wallet: '钱包', security: '安全', admin: '管理', signIn: '登录', signUp: '注册', signOut: '退出登录', menu: '菜单', language: '语言', theme: '主题', dark: '深色', light: '浅色', live: '实时', polling: '每隔几秒更新', connecting: '连接中', streams: '行情：{{market}} · 您的订单与余额：{{user}}' },
  auth: {
    renewTitle: '设置新密码', renewHint: '您的密码已达到最长使用期限。请设置新密码后登录；其他会话将被结束。', renewSubmit: '设置密码并登录',
    email: '邮箱', password: '密码', newPassword: '新密码', currentPassword: '当前密码',
    signInTitle: '登录 FlowEx', signUpTitle: '创建 FlowEx 账户', submitSignIn: '登录', submitSignUp: '创建账户',
    noAccount: '还没有账户？', haveAccount: '已经注册？', totpTitle: '双重验证',
    totpHint: '输入验证器应用中的 6 位验证码，或一个备用码。', code: '验证码', verify: '验证',
    passwordHint: '至少 10 个字符，且不能是邮箱地址。', registered: '账户已创建，请登录。', sessionEnded: '会话已结束，请重新登录。',
  },
  markets: { title: '市场', search: '搜索市场', market: '市场', last: '最新价', change: '24小时涨跌', high: '24小时最高', low: '24小时最低', volume: '24小时成交量', favourites: '自选', all: '全部', favourite: '将 {{symbol}} 加入自选', unfavourite: '将 {{symbol}} 移出自选', none: '没有匹配的市场。', trade: '交易' },
  trade: {
    chart: 'K线图', book: '订单簿', trades: '最新成交', price: '价格（{{asset}}）', amount: '数量（{{asset}}）', total: '成交额（{{asset}}）', time: '时间',
    interval: '周期', group: '合并', spread: '价差', openOrders: '当前委托（{{count}}）', orderHistory: '历史委托', tradeHistory: '成交记录',
    cancel: '撤单', cancelAll: '全部撤单', side: '方向', type: '类型', filled: '已成交', status: '状态', date: '日期', fee: '手续费', role: '角色', maker: '挂单', taker: '吃单',
    noOrders: '暂无委托。', noHistory: '暂无记录。', signInToTrade: '登录或注册后即可交易。', halted: '该市场当前状态：{{status}}。',
    buy: '买入', sell: '卖出', BUY: '买入', SELL: '卖出', last: '最新价', mark: '{{symbol}} 价格走势图',
  },
  form: {
    limit: '限价', market: '市价', stopLimit: '止损限价', takeProfit: '止盈限价', stopPrice: '触发价（{{asset}}）', byAmount: '按数量', byTotal: '按金额',
    postOnly: '只做挂单', timeInForce: '有效方式', available: '可用', percent: '余额的 {{percent}}%', estFee: '手续费最多', estTotal: '合计',
    submit: '{{side}} {{asset}}', placed: '订单 {{id}} 已提交：{{status}}。', rejected: '被拒绝：{{message}}',
    required: '必填。', positive: '请输入正数。', tick: '必须是 {{tick}} 的整数倍。', step: '必须是 {{step}} 的整数倍。',
    priceRange: '应在 {{min}} 与 {{max}} 之间。', qtyRange: '应在 {{min}} 与 {{max}} 之间。', minNotional: '订单金额至少为 {{min}} {{asset}}。',
    maxNotional: '订单金额最多为 {{max}} {{asset}}。', balance: '可用 {{asset}} 不足。',
  },
  wallet: {
    title: '钱包', balances: '资产', asset: '币种', available: '可用', locked: '冻结', total: '总额', value: '估值（USDT）', estimated: '总资产估值',
    faucet: '领取演示资金', faucetDone: '已到账 {{amount}} {{asset}}。', faucetAgain: '今天已领取过。', withdraw: '提现', address: '地址', amount: '数量',
    totp: '双重验证码', request: '申请提现', requested: '提现 {{id}} 已申请：{{state}}。', deposits: '充值记录', withdrawals: '提现记录', ledger: '资金流水',
    exportCsv: '导出 CSV', cause: '类型', state: '状态', reference: '参考', when: '时间', cancelWithdrawal: '取消', noneYet: '暂无记录。', needs2fa: '提现需要双重验证：请在“安全”中开启。', fee: '手续费',
  },
  security: {
    title: '安全', twofa: '双重验证', on: '已开启', off: '未开启', enable: '开启双重验证', disable: '关闭双重验证', scan: '用验证器应用扫描二维码，或手动输入密钥：',
    confirm: '确认', backup: '备用码：每个只能使用一次。请妥善保存，之后不会再显示。', done: '完成',
    apiKeys: 'API 密钥', label: '名称', permissions: '权限', ipAllow: 'IP 白名单（逗号分隔，留空表示不限）', create: '创建密钥', created: '创建时间', lastUsed: '最近使用',
    secretOnce: '密钥（只显示一次，请立即复制）：', apiKey: 'API Key', delete: '删除', never: '从未', sessions: '活跃会话', device: '设备', ip: 'IP', started: '开始时间',
    thisOne: '当前会话', revoke: '注销', password: '修改密码', change: '修改', changed: '密码已修改。', activity: '最近账户活动',
    event: '事件', activityNote: '此账户上的操作，最新的在前。如有不认识的记录：请修改密码并注销上面的会话。',
    ok: '成功', denied: '被拒绝', error: '失败', more: '显示更早的记录',
  },
  action: {
    auth_register: '创建账户', auth_login: '登录', auth_lockout: '多次失败后暂停登录', auth_logout: '退出登录', auth_refresh_reuse: '会话已结束：已使用的令牌被再次提交',
    auth_password_change: '修改密码', auth_totp_enroll: '开始设置双重验证', auth_totp_confirm: '开启双重验证', auth_totp_disable: '关闭双重验证',
    api_key_create: '创建 API 密钥', api_key_delete: '删除 API 密钥', session_revoke: '注销会话', wallet_withdrawal_request: '申请提现', wallet_withdrawal_cancel: '取消提现',
  },
  admin: {
    marketRate: '市场费率', roleAdmin: '管理员', roleUser: '用户', role: '角色', frozen: '已冻结', active: '正常', searchUsers: '按邮箱或 ID 查找（本页）', previous: '上一页', next: '下一页',
    title: '管理', markets: '市场', assets: '资产', withdrawals: '待审核提现', users: '用户', audit: '审计日志', reconcile: '对账',
    symbol: '交易对', status: '状态', halt: '暂停', cancelOnly: '仅撤单', resume: '恢复交易', makerFee: '挂单费率', takerFee: '吃单费率', minNotional: '最小金额', minQty: '最小数量', maxQty: '最大数量', save: '保存', saved: '已保存。',
    create: '创建', code: '代码', decimals: '小数位', base: '基础币', quote: '计价币', tick: '价格步长', step: '数量步长', maxPrice: '最高价', newMarket: '新市场', newAsset: '新资产',
    approve: '批准', reject: '拒绝', user: '用户', userId: '用户 ID', freeze: '冻结', unfreeze: '解冻', setFees: '设置费率等级', clearFees: '恢复市场费率', action: '操作', result: '结果', target: '对象', detail: '详情',
    reconcileHint: '对账在同一序号比较账本、SQL 余额与撮合引擎：逐个资产比较引擎总额与账本总额，并核对三者中的每个账户。',
    reconcileRun: '重新核对', reconcileOk: '账本、余额与引擎一致。', reconcileBad: '发现 {{count}} 处不一致。', reconcileAt: '序号 {{seq}}，{{when}}',
    engineTotal: '引擎总额', ledgerTotal: '账本总额', difference: '差额', imbalance: '账本不平衡', agrees: '一致', disagrees: '不一致',
    reconcileCli: '命令行中的同一检查（嵌入模式下服务器停止时也可运行）：', forbidden: '此页面仅限管理员。', done: '完成。',
  },
  wstate: { requested: '待审核', approved: '已批准', rejected: '已拒绝', completed: '已完成', released: '已退回' },
  status: { NEW: '未成交', PARTIALLY_FILLED: '部分成交', FILLED: '完全成交', CANCELED: '已撤销', EXPIRED: '已过期', EXPIRED_IN_MATCH: '撮合中过期', REJECTED: '已拒绝', TRADING: '交易中', HALTED: '已暂停', CANCEL_ONLY: '仅撤单', BREAK: '休市' },
};
