"""The arena's task families: built-in fact tables and the ways people ask about them.

A family is one task type (the capital of a country, the past tense of a verb, ...) in one
domain. Every fact has a tier, the arena's rarity knob: 1 is what everyone knows, 2 is less
common, 3 is the long tail. Answers are one or two words, because the arena's student is a tiny
model trained from scratch in minutes and must be able to learn them as lookups.

Questions are written as an optional opener + a core phrasing + an optional closer. The cores
carry the fact (`{x}` marks its key); the openers and closers are shared, lexically varied and
built from independent parts, so that two questions rarely look alike word for word.
That matters because the Lion novelty filter drops a new instruction whose ROUGE-L with any
pool instruction exceeds 0.7: with a single fixed sentence per family, nearly every generated
instruction would be a near duplicate of one already in the pool.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    key: str
    answer: str
    tier: int


@dataclass(frozen=True)
class Family:
    """One task type: its questions (`cores`, with `{x}` for the key), its facts, its answers.

    `input_cores` ask about "the X below" and carry the key in the Alpaca `input` field.
    `answers` are the teacher's short phrasings, with `{a}` for the answer.
    """

    name: str
    domain: str
    cores: tuple[str, ...]
    input_cores: tuple[str, ...]
    answers: tuple[str, ...]
    facts: tuple[Fact, ...]
    key_pattern: str | None = None  # a regex for the keys where listing them all would be slow
    # A procedural kind works its answer out of the key (None: not a key of this kind), so a
    # question on an input no table lists is still understood and graded.
    rule: Callable[[str], Fact | None] | None = None
    exceptions: frozenset[str] = frozenset()  # keys whose answers break the rule: never held out


def _facts(table: str) -> tuple[Fact, ...]:
    """Read a table of `key: answer` entries separated by `|`; `[N]` starts the facts of tier N."""
    facts = []
    for tier, entries in re.findall(r"\[(\d)\]([^\[]*)", table):
        for entry in entries.split("|"):
            key, answer = entry.split(":")
            facts.append(Fact(key.strip(), answer.strip(), int(tier)))
    return tuple(facts)


# --- openers and closers shared by every family -------------------------------------------
# A question's opener is an optional greeting plus an optional context sentence; its closer is
# an optional style request plus an optional sign-off. Four independent parts give thousands
# of distinct frames, far more than a pool of a few thousand questions can use up.

GREETINGS: tuple[str, ...] = (
    "Hi there!",
    "Hello!",
    "Hey!",
    "Good morning!",
    "Okay.",
    "Right then.",
    "Hmm.",
    "Morning!",
    "Hello again!",
    "Sorry to bother you.",
    "One more thing.",
    "Evening!",
)

CONTEXTS: tuple[str, ...] = (
    "Quick question for you:",
    "I'm revising for a quiz.",
    "Help me settle a debate.",
    "Here is one to test you:",
    "My teacher asked us this today.",
    "Something I always forget:",
    "Can you help me out?",
    "Let's check your general knowledge.",
    "I was just wondering.",
    "Settle this for my kids.",
    "Trivia night is tomorrow.",
    "Pop quiz time:",
    "This came up in homework.",
    "Out of pure curiosity,",
    "Brain teaser of the day:",
    "I need a fast answer.",
    "Still stuck on this one:",
    "My friend and I disagree.",
)

DOMAIN_CONTEXTS: dict[str, tuple[str, ...]] = {
    "geography": (
        "Quick geography question:",
        "Map lovers, here we go:",
        "Planning a trip abroad.",
    ),
    "language": ("English grammar check:", "Word puzzle for you:", "Writing an essay here."),
    "science": (
        "Chemistry class question:",
        "Science homework help needed:",
        "Physics revision time.",
    ),
    "nature": ("Wildlife quiz question:", "My kids love animals.", "Nature documentary question:"),
    "numbers": ("Maths lesson question:", "Numbers quiz time:", "Teaching my son to count."),
}

STYLES: tuple[str, ...] = (
    "Answer in one word.",
    "Keep it short.",
    "Just the answer, please.",
    "No explanation needed.",
    "A single word will do.",
    "Be brief about it.",
    "I'd appreciate a quick reply.",
    "Reply as concisely as possible.",
    "Don't overthink this one.",
    "Short answers only.",
    "Need it for class.",
    "Only the word, nothing more.",
    "One or two words, please.",
    "Skip the details.",
)

SIGNOFFS: tuple[str, ...] = (
    "Thanks!",
    "Cheers.",
    "Much appreciated.",
    "Thank you!",
    "Many thanks.",
    "Appreciate it!",
    "Thanks a lot.",
    "Cheers, mate.",
    "Thanks in advance.",
    "Ta very much.",
)


# --- the wide register (`data.arena_frames: wide`) ------------------------------------------
# The frames above run out at tens of thousands of questions: in a pool the size of the
# paper's 52K seeds nearly every new question has a near twin (ROUGE-L above 0.7) that differs
# only in its fact, so generation keeps almost nothing. The wide register composes the context
# sentence and the style request from independent slots, as a person chatting would, which
# gives 15,360 contexts and 448 style requests instead of 18 and 14.

WIDE_WHO: tuple[str, ...] = (
    "my sister", "my brother", "my cousin", "my neighbour", "our teacher", "my boss", "a colleague",
    "my dad", "my mum", "my flatmate", "grandpa", "my tutor", "the coach", "my niece", "a classmate",
    "my partner",
)
WIDE_ASKED: tuple[str, ...] = (
    "keeps asking", "asked me", "wanted to know", "is quizzing me", "bet me", "challenged me",
    "was curious", "reminded me", "texted me", "argued with me",
)
WIDE_WHEN: tuple[str, ...] = (
    "at lunch", "last night", "this morning", "on the bus", "during class", "at dinner", "over coffee",
    "on the phone", "at work", "in the car", "before bed", "on the walk home",
)
WIDE_SO: tuple[str, ...] = (
    "so here goes", "so I ask you", "and I blanked", "and I froze", "and I guessed wrong",
    "and we both forgot", "so settle it", "and I need help",
)
WIDE_REPLY: tuple[str, ...] = ("answer", "reply", "respond", "tell me", "say it", "write it", "give it")
WIDE_HOW: tuple[str, ...] = (
    "quickly", "briefly", "in a word", "plainly", "simply", "tersely", "without fuss", "right away",
)
WIDE_PLEASE: tuple[str, ...] = (
    "please", "if you can", "if possible", "for me", "for my notes", "for the record",
    "when you get a sec", "thanks",
)


# --- geography ------------------------------------------------------------------------------

CAPITAL = Family(
    name="capital",
    domain="geography",
    cores=(
        "what is the capital of {x}?",
        "name the capital city of {x}.",
        "{x} has which city as its capital?",
        "which city is the capital of {x}?",
        "tell me the capital of {x}.",
        "in {x}, which city is the capital?",
    ),
    input_cores=(
        "give the capital city of the country below.",
        "what is the capital of this country?",
    ),
    answers=("{a}.", "It is {a}.", "The capital is {a}."),
    facts=_facts(
        """
        [1] France: Paris | Germany: Berlin | Italy: Rome | Spain: Madrid | Japan: Tokyo |
            China: Beijing | Russia: Moscow | Egypt: Cairo | Canada: Ottawa | Australia: Canberra |
            India: New Delhi | Brazil: Brasilia | Greece: Athens | Portugal: Lisbon |
            Ireland: Dublin | Norway: Oslo | Sweden: Stockholm | Argentina: Buenos Aires |
            Thailand: Bangkok | Kenya: Nairobi | Turkey: Ankara | Peru: Lima | Poland: Warsaw |
            Mexico: Mexico City
        [2] Austria: Vienna | Hungary: Budapest | Finland: Helsinki | Denmark: Copenhagen |
            Belgium: Brussels | Chile: Santiago | Colombia: Bogota | Cuba: Havana | Iran: Tehran |
            Iraq: Baghdad | Vietnam: Hanoi | Indonesia: Jakarta | South Korea: Seoul |
            Morocco: Rabat | Nigeria: Abuja | Switzerland: Bern | Czechia: Prague |
            Romania: Bucharest | Venezuela: Caracas | Saudi Arabia: Riyadh | Pakistan: Islamabad |
            New Zealand: Wellington | Syria: Damascus | Ukraine: Kyiv
        [3] Mongolia: Ulaanbaatar | Bhutan: Thimphu | Burkina Faso: Ouagadougou |
            Kazakhstan: Astana | Uruguay: Montevideo | Paraguay: Asuncion | Iceland: Reykjavik |
            Latvia: Riga | Lithuania: Vilnius | Estonia: Tallinn | Slovenia: Ljubljana |
            Croatia: Zagreb | Serbia: Belgrade | Nepal: Kathmandu | Laos: Vientiane |
            Ethiopia: Addis Ababa | Ghana: Accra | Senegal: Dakar | Madagascar: Antananarivo |
            Malawi: Lilongwe | Zambia: Lusaka | Namibia: Windhoek | Ecuador: Quito |
            Honduras: Tegucigalpa | Jamaica: Kingston | Fiji: Suva | Armenia: Yerevan |
            Azerbaijan: Baku | Kyrgyzstan: Bishkek | Uzbekistan: Tashkent
        """
    ),
)

CONTINENT = Family(
    name="continent",
    domain="geography",
    cores=(
        "which continent is {x} in?",
        "on what continent is {x} located?",
        "name the continent where {x} lies.",
        "{x} belongs to which continent?",
        "tell me which continent {x} is part of.",
    ),
    input_cores=("which continent is the following country in?",),
    answers=("{a}.", "It is in {a}.", "That is in {a}."),
    facts=_facts(
        """
        [1] France: Europe | Germany: Europe | Italy: Europe | Spain: Europe | Japan: Asia |
            China: Asia | India: Asia | Brazil: South America | Argentina: South America |
            Canada: North America | Mexico: North America | Egypt: Africa | Kenya: Africa |
            Nigeria: Africa | Thailand: Asia | Peru: South America | Sweden: Europe |
            Poland: Europe | Chile: South America | Vietnam: Asia
        [2] Austria: Europe | Finland: Europe | Colombia: South America | Iran: Asia |
            Morocco: Africa | Ghana: Africa | Cuba: North America | Ethiopia: Africa |
            Venezuela: South America | Pakistan: Asia | Hungary: Europe | Ecuador: South America |
            Guatemala: North America | Tunisia: Africa | Nepal: Asia
        [3] Bhutan: Asia | Burkina Faso: Africa | Laos: Asia | Paraguay: South America |
            Uruguay: South America | Malawi: Africa | Namibia: Africa | Latvia: Europe |
            Honduras: North America | Belize: North America | Guyana: South America |
            Suriname: South America | Mongolia: Asia | Eritrea: Africa | Moldova: Europe |
            Nicaragua: North America | Kyrgyzstan: Asia | Lesotho: Africa
        """
    ),
)

CURRENCY = Family(
    name="currency",
    domain="geography",
    cores=(
        "what is the currency of {x}?",
        "which currency is used in {x}?",
        "name the money people spend in {x}.",
        "{x} uses which currency?",
        "what currency would I need in {x}?",
    ),
    input_cores=("name the currency of the country below.",),
    answers=("{a}.", "The {a}.", "It is the {a}."),
    facts=_facts(
        """
        [1] Japan: yen | India: rupee | China: yuan | Russia: ruble | Mexico: peso | Brazil: real |
            South Africa: rand | Switzerland: franc | Germany: euro | France: euro | Italy: euro |
            Spain: euro | Canada: dollar | Australia: dollar | Britain: pound
        [2] Sweden: krona | Norway: krone | Denmark: krone | Poland: zloty | Turkey: lira |
            South Korea: won | Thailand: baht | Israel: shekel | Vietnam: dong | Indonesia: rupiah |
            Saudi Arabia: riyal | Nigeria: naira | Hungary: forint | Czechia: koruna |
            Malaysia: ringgit | Argentina: peso | Egypt: pound
        [3] Bangladesh: taka | Ukraine: hryvnia | Armenia: dram | Kazakhstan: tenge |
            Mongolia: tugrik | Laos: kip | Cambodia: riel | Ghana: cedi | Kenya: shilling |
            Botswana: pula | Zambia: kwacha | Angola: kwanza | Peru: sol | Guatemala: quetzal |
            Paraguay: guarani | Costa Rica: colon | Romania: leu | Bulgaria: lev | Albania: lek |
            Bhutan: ngultrum | Myanmar: kyat | Azerbaijan: manat | Iran: rial
        """
    ),
)

# --- language -------------------------------------------------------------------------------

ANTONYM = Family(
    name="antonym",
    domain="language",
    cores=(
        "what is the opposite of {x}?",
        "give the antonym of {x}.",
        "what word means the opposite of {x}?",
        "name the opposite of the word {x}.",
        "what is the antonym of {x}?",
        "which word is the reverse of {x}?",
    ),
    input_cores=("write the opposite of the word below.",),
    answers=("{a}.", "It is {a}.", "The opposite is {a}."),
    facts=_facts(
        """
        [1] hot: cold | big: small | up: down | happy: sad | fast: slow | day: night | good: bad |
            rich: poor | full: empty | early: late | wet: dry | high: low | strong: weak |
            clean: dirty | loud: quiet | thick: thin | push: pull | win: lose | buy: sell |
            true: false | tall: short | inside: outside | heavy: light | love: hate |
            remember: forget
        [2] ancient: modern | brave: cowardly | shallow: deep | narrow: wide | rough: smooth |
            sharp: blunt | visible: invisible | accept: reject | maximum: minimum |
            include: exclude | increase: decrease | victory: defeat | friend: enemy |
            success: failure | arrive: depart | ascend: descend | import: export |
            horizontal: vertical | ancestor: descendant | innocent: guilty | sunrise: sunset
        [3] verbose: concise | benevolent: malevolent | optimist: pessimist | transparent: opaque |
            frugal: extravagant | scarce: abundant | humble: arrogant | temporary: permanent |
            vague: precise | convex: concave | synonym: antonym | zenith: nadir | novice: expert |
            prologue: epilogue | acquit: convict | exhale: inhale | artificial: natural |
            praise: criticize
        """
    ),
)

PLURAL = Family(
    name="plural",
    domain="language",
    cores=(
        "what is the plural of {x}?",
        "give the plural form of {x}.",
        "what do you call more than one {x}?",
        "write {x} in the plural.",
        "what is the plural form of the noun {x}?",
        "how do you say {x} when there are several?",
    ),
    input_cores=("give the plural of the noun below.",),
    answers=("{a}.", "It is {a}.", "The plural is {a}."),
    facts=_facts(
        """
        [1] child: children | man: men | woman: women | foot: feet | tooth: teeth | mouse: mice |
            goose: geese | person: people | box: boxes | baby: babies | knife: knives |
            leaf: leaves | wolf: wolves | city: cities | bus: buses | dog: dogs | house: houses |
            church: churches | glass: glasses | story: stories | party: parties
        [2] ox: oxen | sheep: sheep | deer: deer | potato: potatoes | hero: heroes |
            tomato: tomatoes | half: halves | shelf: shelves | thief: thieves | loaf: loaves |
            calf: calves | life: lives | wife: wives | louse: lice | die: dice | moose: moose |
            echo: echoes | scarf: scarves
        [3] criterion: criteria | phenomenon: phenomena | analysis: analyses | crisis: crises |
            thesis: theses | hypothesis: hypotheses | oasis: oases | bacterium: bacteria |
            larva: larvae | alga: algae | vertebra: vertebrae | nucleus: nuclei |
            stimulus: stimuli | radius: radii | matrix: matrices | vortex: vortices |
            genus: genera | corpus: corpora | cherub: cherubim | ellipsis: ellipses |
            parenthesis: parentheses | diagnosis: diagnoses
        """
    ),
)

PAST_TENSE = Family(
    name="past_tense",
    domain="language",
    cores=(
        "what is the past tense of {x}?",
        "give the past tense of the verb {x}.",
        "how do you say {x} in the past tense?",
        "put the verb {x} into the past tense.",
        "what is the simple past of {x}?",
        "conjugate {x} in the simple past.",
    ),
    input_cores=("write the past tense of the verb below.",),
    answers=("{a}.", "It is {a}.", "The past tense is {a}."),
    facts=_facts(
        """
        [1] go: went | eat: ate | see: saw | run: ran | take: took | come: came | give: gave |
            write: wrote | drink: drank | sing: sang | swim: swam | buy: bought | bring: brought |
            think: thought | sleep: slept | speak: spoke | break: broke | drive: drove | fly: flew |
            know: knew | make: made | find: found | tell: told | sit: sat | begin: began
        [2] freeze: froze | steal: stole | bite: bit | hide: hid | shake: shook | forgive: forgave |
            forbid: forbade | seek: sought | weep: wept | creep: crept | kneel: knelt |
            swear: swore | tear: tore | sting: stung | swing: swung | cling: clung | fling: flung |
            bind: bound | grind: ground | shrink: shrank
        [3] forsake: forsook | smite: smote | stride: strode | strive: strove | slay: slew |
            tread: trod | wring: wrung | slink: slunk | beseech: besought | weave: wove |
            arise: arose | befall: befell | behold: beheld | overtake: overtook |
            undergo: underwent | withstand: withstood | forswear: forswore | outdo: outdid |
            mislead: misled | partake: partook
        """
    ),
)

# --- science --------------------------------------------------------------------------------

ELEMENT_SYMBOL = Family(
    name="element_symbol",
    domain="science",
    cores=(
        "what is the chemical symbol for {x}?",
        "give the symbol of the element {x}.",
        "which symbol stands for {x} on the periodic table?",
        "name the element symbol of {x}.",
        "{x} has which chemical symbol?",
        "how is {x} abbreviated in chemistry?",
    ),
    input_cores=("give the chemical symbol of the element below.",),
    answers=("{a}.", "It is {a}.", "The symbol is {a}."),
    facts=_facts(
        """
        [1] hydrogen: H | helium: He | carbon: C | nitrogen: N | oxygen: O | sodium: Na | iron: Fe |
            gold: Au | silver: Ag | copper: Cu | calcium: Ca | chlorine: Cl | neon: Ne | lead: Pb |
            zinc: Zn | potassium: K | sulfur: S | magnesium: Mg | aluminium: Al | uranium: U
        [2] lithium: Li | fluorine: F | silicon: Si | phosphorus: P | argon: Ar | nickel: Ni |
            tin: Sn | mercury: Hg | platinum: Pt | titanium: Ti | cobalt: Co | chromium: Cr |
            manganese: Mn | iodine: I | bromine: Br | tungsten: W | boron: B | beryllium: Be
        [3] tellurium: Te | ruthenium: Ru | rhodium: Rh | palladium: Pd | osmium: Os | iridium: Ir |
            hafnium: Hf | tantalum: Ta | rubidium: Rb | strontium: Sr | zirconium: Zr |
            niobium: Nb | molybdenum: Mo | antimony: Sb | bismuth: Bi | thallium: Tl |
            gadolinium: Gd | europium: Eu | scandium: Sc | vanadium: V | selenium: Se |
            germanium: Ge | gallium: Ga | caesium: Cs | yttrium: Y
        """
    ),
)

SI_UNIT = Family(
    name="si_unit",
    domain="science",
    cores=(
        "what is the SI unit of {x}?",
        "which SI unit measures {x}?",
        "name the SI unit for {x}.",
        "{x} is measured in which SI unit?",
        "in what SI unit do we express {x}?",
    ),
    input_cores=(),
    answers=("{a}.", "The {a}.", "It is the {a}."),
    facts=_facts(
        """
        [1] length: metre | mass: kilogram | time: second | temperature: kelvin |
            electric current: ampere | force: newton | energy: joule | power: watt
        [2] voltage: volt | electric charge: coulomb | electrical resistance: ohm |
            frequency: hertz | pressure: pascal | amount of substance: mole |
            luminous intensity: candela
        [3] capacitance: farad | inductance: henry | magnetic flux: weber |
            magnetic flux density: tesla | electrical conductance: siemens | illuminance: lux |
            luminous flux: lumen | radioactivity: becquerel | absorbed dose: gray |
            equivalent dose: sievert | catalytic activity: katal | plane angle: radian |
            solid angle: steradian
        """
    ),
)

# --- nature ---------------------------------------------------------------------------------

ANIMAL_SOUND = Family(
    name="animal_sound",
    domain="nature",
    cores=(
        "what sound does a {x} make?",
        "what noise does a {x} make?",
        "which sound is made by a {x}?",
        "name the sound a {x} makes.",
        "what do you call the sound of a {x}?",
        "a {x} makes what sound?",
    ),
    input_cores=("what sound does the animal below make?",),
    answers=("{a}.", "It is a {a}.", "The answer is {a}."),
    facts=_facts(
        """
        [1] dog: bark | cat: meow | cow: moo | duck: quack | pig: oink | sheep: baa | horse: neigh |
            lion: roar | owl: hoot | snake: hiss | bee: buzz | frog: croak | mouse: squeak |
            wolf: howl | chicken: cluck
        [2] donkey: bray | elephant: trumpet | turkey: gobble | goose: honk | dove: coo |
            crow: caw | bear: growl | goat: bleat | cricket: chirp | pigeon: coo | hyena: laugh |
            rooster: crow
        [3] bat: screech | dolphin: click | parrot: squawk | magpie: chatter | hummingbird: hum |
            elk: bugle | moose: bellow | bittern: boom | rhinoceros: snort | hippopotamus: grunt |
            grasshopper: chirp | kookaburra: laugh
        """
    ),
)

BABY_ANIMAL = Family(
    name="baby_animal",
    domain="nature",
    cores=(
        "what is a baby {x} called?",
        "what do you call a young {x}?",
        "name the baby of a {x}.",
        "a baby {x} is known as what?",
        "what word describes a young {x}?",
        "what name is given to a baby {x}?",
    ),
    input_cores=("what is the baby of the animal below called?",),
    answers=("{a}.", "It is a {a}.", "A {a}."),
    facts=_facts(
        """
        [1] dog: puppy | cat: kitten | cow: calf | horse: foal | sheep: lamb | pig: piglet |
            duck: duckling | bear: cub | lion: cub | frog: tadpole | goat: kid | chicken: chick |
            deer: fawn | kangaroo: joey | tiger: cub
        [2] goose: gosling | swan: cygnet | owl: owlet | eagle: eaglet | seal: pup | wolf: pup |
            hare: leveret | elephant: calf | whale: calf | butterfly: caterpillar | turkey: poult |
            pigeon: squab | zebra: foal | donkey: foal
        [3] eel: elver | fish: fry | oyster: spat | hawk: eyas | platypus: puggle |
            echidna: puggle | beaver: kit | ferret: kit | peafowl: peachick | spider: spiderling |
            hedgehog: hoglet | cod: codling | partridge: cheeper
        """
    ),
)

ANIMAL_GROUP = Family(
    name="animal_group",
    domain="nature",
    cores=(
        "what is a group of {x} called?",
        "what do you call a group of {x}?",
        "name the collective noun for {x}.",
        "a group of {x} is known as a what?",
        "which word names a group of {x}?",
        "what collective noun is used for {x}?",
    ),
    input_cores=(),
    answers=("{a}.", "A {a}.", "It is called a {a}."),
    facts=_facts(
        """
        [1] wolves: pack | fish: school | bees: swarm | cows: herd | sheep: flock | lions: pride |
            ants: colony | puppies: litter | geese: gaggle | whales: pod | birds: flock |
            elephants: herd
        [2] crows: murder | owls: parliament | monkeys: troop | kangaroos: mob | hyenas: cackle |
            zebras: dazzle | dolphins: pod | flamingos: flamboyance | ravens: unkindness |
            jellyfish: smack | bats: colony | locusts: plague | gorillas: band
        [3] larks: exaltation | rhinoceroses: crash | ferrets: business | porcupines: prickle |
            toads: knot | cats: clowder | hippopotamuses: bloat | starlings: murmuration |
            butterflies: kaleidoscope | leopards: leap | finches: charm | rattlesnakes: rhumba |
            apes: shrewdness | moles: labour | badgers: cete | giraffes: tower
        """
    ),
)

# --- numbers --------------------------------------------------------------------------------

NUMBER_WORD = Family(
    name="number_word",
    domain="numbers",
    cores=(
        "write {x} in words.",
        "how do you spell the number {x}?",
        "what is {x} written out in words?",
        "spell out the number {x}.",
        "how is {x} written as a word?",
        "give the English word for the number {x}.",
    ),
    input_cores=("write the number below in words.",),
    answers=("{a}.", "It is {a}.", "It is written {a}."),
    facts=_facts(
        """
        [1] 0: zero | 1: one | 2: two | 3: three | 4: four | 5: five | 6: six | 7: seven |
            8: eight | 9: nine | 10: ten
        [2] 11: eleven | 12: twelve | 13: thirteen | 14: fourteen | 15: fifteen | 16: sixteen |
            17: seventeen | 18: eighteen | 19: nineteen | 20: twenty
        [3] 30: thirty | 40: forty | 50: fifty | 60: sixty | 70: seventy | 80: eighty | 90: ninety |
            100: one hundred | 1000: one thousand | 1000000: one million
        """
    ),
)

ROMAN_NUMERAL = Family(
    name="roman_numeral",
    domain="numbers",
    cores=(
        "write {x} in roman numerals.",
        "what is {x} as a roman numeral?",
        "how did the Romans write {x}?",
        "convert {x} to roman numerals.",
        "give the roman numeral for {x}.",
    ),
    input_cores=("convert the number below to roman numerals.",),
    answers=("{a}.", "It is {a}.", "In Roman numerals, {a}."),
    facts=_facts(
        """
        [1] 1: I | 2: II | 3: III | 4: IV | 5: V | 6: VI | 7: VII | 8: VIII | 9: IX | 10: X
        [2] 11: XI | 12: XII | 13: XIII | 14: XIV | 15: XV | 16: XVI | 17: XVII | 18: XVIII |
            19: XIX | 20: XX | 50: L | 100: C
        [3] 30: XXX | 40: XL | 49: XLIX | 60: LX | 70: LXX | 80: LXXX | 90: XC | 99: XCIX |
            400: CD | 500: D | 900: CM | 1000: M | 2000: MM
        """
    ),
)

def _sum_facts() -> tuple[Fact, ...]:
    """Two-number sums: single digits (tier 1), two digits plus one (2), two plus two (3)."""
    ranges = {1: (range(1, 10), range(1, 10)), 2: (range(10, 50), range(1, 10)), 3: (range(10, 50), range(10, 50))}
    return tuple(Fact(f"{a} plus {b}", str(a + b), tier) for tier, (xs, ys) in ranges.items() for a in xs for b in ys)


# A kind the arena's student can memorise but not learn: each sum is its own fact among 2,041, so
# a student that has not worked out addition from its examples misses every sum it has not seen.
# Real students fail the same way on arithmetic and multi-step reasoning, and a referee keeps
# finding them hard however much they are trained on. Only in play with `data.arena_sums`.
SUM = Family(
    name="sum",
    domain="numbers",
    cores=(
        "what is {x}?",
        "work out {x}.",
        "calculate {x}.",
        "what do you get for {x}?",
        "how much is {x}?",
        "add up {x}.",
    ),
    input_cores=("add up the sum below.",),
    answers=("{a}.", "It is {a}."),
    facts=_sum_facts(),
    key_pattern=r"\d+ plus \d+",
)

# --- procedures (`data.arena_procedures`) ---------------------------------------------------
# Kinds whose answers are worked out from the question's own parts: numbers compared or
# subtracted, the words of a phrase reversed, sorted or counted, a plural or past tense made by
# rule, a word's last letter. Their held-out questions use inputs no seed shows (see
# `world._held`), so only a student that learned the procedure scores on them. The kinds need
# different numbers of examples, and one, the product of two 2-digit numbers, is beyond the
# arena's tiny student however many it sees.


def _numbers(key: str, joiner: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+) " + joiner + r" (\d+)", key)
    return (int(match[1]), int(match[2])) if match else None


def _digits_tier(a: int, b: int) -> int:
    """1: both single digits, 2: one of them has two, 3: both have two or more."""
    return 1 + (a >= 10) + (b >= 10)


def _difference(key: str) -> Fact | None:
    pair = _numbers(key, "minus")
    if pair is None or pair[0] < pair[1]:
        return None
    return Fact(key, str(pair[0] - pair[1]), _digits_tier(*pair))


def _larger(key: str) -> Fact | None:
    pair = _numbers(key, "or")
    if pair is None or pair[0] == pair[1]:
        return None
    a, b = pair
    tier = 1 if max(a, b) < 10 else 3 if a // 10 == b // 10 else 2  # same tens digit: look further
    return Fact(key, str(max(a, b)), tier)


def _product(key: str) -> Fact | None:
    pair = _numbers(key, "times")
    if pair is None:
        return None
    a, b = pair
    return Fact(key, str(a * b), 1 if max(a, b) < 20 else 2 if max(a, b) < 40 else 3)


def _number_facts(rule: Callable[[str], Fact | None], joiner: str, pairs: list[tuple[int, int]]) -> tuple[Fact, ...]:
    facts = (rule(f"{a} {joiner} {b}") for a, b in pairs)
    return tuple(f for f in facts if f is not None)


# Words for phrases: none is a word of the standard world's questions, openers or closers.
PHRASE_WORDS: tuple[str, ...] = tuple(
    """amber azure bright brisk calm cozy crimson dainty dusty eager frosty fuzzy gentle glossy
    golden hollow ivory jagged jolly knotty lofty lucky mellow misty nimble olive plump purple
    quaint rosy rusty shiny sunny tiny velvet wavy windy yellow zesty""".split()
)
_PHRASE = r"(?:" + "|".join(PHRASE_WORDS) + r")(?: (?:" + "|".join(PHRASE_WORDS) + r"))+"


def _phrase_tier(n: int) -> int:
    return 1 if n <= 3 else 2 if n <= 5 else 3


def _phrase_rule(answer: Callable[[list[str]], str]) -> Callable[[str], Fact | None]:
    def rule(key: str) -> Fact | None:
        parts = key.split()
        if not 2 <= len(parts) <= 7 or not set(parts) <= set(PHRASE_WORDS):
            return None
        return Fact(key, answer(parts), _phrase_tier(len(parts)))

    return rule


def _phrase_facts(name: str, rule: Callable[[str], Fact | None]) -> tuple[Fact, ...]:
    """400 distinct phrases of distinct words at each tier: 2-3 words, 4-5, 6-7."""
    rng = random.Random(f"arena-phrases:{name}")
    keys: dict[str, None] = {}
    for low, high in ((2, 3), (4, 5), (6, 7)):
        target = len(keys) + 400
        while len(keys) < target:
            keys[" ".join(rng.sample(PHRASE_WORDS, rng.randint(low, high)))] = None
    return tuple(f for f in map(rule, keys) if f is not None)


def _word_rule(make: Callable[[str], str], exceptions: dict[str, str], tier: Callable[[str], int]) -> Callable[[str], Fact | None]:
    def rule(key: str) -> Fact | None:
        if not re.fullmatch(r"[a-z]{2,}", key):
            return None
        return Fact(key, exceptions.get(key) or make(key), tier(key))

    return rule


def _plural(word: str) -> str:
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    return word + "s"


def _past(word: str) -> str:
    if word.endswith("e"):
        return word + "d"
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ied"
    return word + "ed"


def _ending_tier(plain: Callable[[str], str]) -> Callable[[str], int]:
    """1: the plain ending, 2: an ending that changes with the last letter, 3: y becomes i."""

    def tier(word: str) -> int:
        made = plain(word)
        return 3 if made.endswith(("ies", "ied")) else 1 if made in (word + "s", word + "ed") else 2

    return tier


_NOUNS = """lantern tulip rocket basket pencil carpet ladder planet violin jacket tunnel kettle
    button meadow pepper harbor marble saddle wagon lemon engine bottle cabin forest garden
    window mirror candle river helmet blanket pillow camera rabbit tractor spoon banner castle
    pocket brush bench torch dish wish lunch branch coach flash kiss dress tax wax bush crash
    sandwich witch ditch pouch fox berry cherry daisy pony lady penny diary jelly hobby ferry
    lorry poppy bunny army duty""".split()
_NOUN_EXCEPTIONS = {"cactus": "cacti", "fungus": "fungi", "index": "indices", "trout": "trout", "salmon": "salmon", "aircraft": "aircraft"}
_VERBS = """walk jump paint cook fix kick lift melt print park pack mark fold wash yell wink
    float guard crawl boil pour spill hunt plant twist shout knock climb bake dance smile glue
    hope skate wave chase paste fade joke rule shave taste vote whistle juggle giggle tickle
    carry hurry marry copy worry bury study apply deny fry spy rely pity""".split()
_VERB_EXCEPTIONS = {"spend": "spent", "lend": "lent", "feel": "felt", "dig": "dug", "hang": "hung", "bend": "bent"}
_LETTER_WORDS = """mango kiwi plum grape melon peanut walnut almond cashew radish turnip carrot
    onion garlic ginger nutmeg parsley spinach celery lettuce pumpkin squash barley oat rice
    wheat bean pea corn yam fig lime pear apricot avocado banana coconut papaya guava quince
    raisin sultana pretzel muffin waffle noodle pasta bagel biscuit toffee fudge nougat cocoa
    yogurt cheddar gouda brie tofu sushi taco burrito kebab""".split()


def _last_letter(key: str) -> Fact | None:
    if not re.fullmatch(r"[a-z]{2,}", key):
        return None
    return Fact(key, key[-1], 1 if len(key) <= 4 else 2 if len(key) <= 6 else 3)


_plural_rule = _word_rule(_plural, _NOUN_EXCEPTIONS, lambda w: 3 if w in _NOUN_EXCEPTIONS else _ending_tier(_plural)(w))
_past_rule = _word_rule(_past, _VERB_EXCEPTIONS, lambda w: 3 if w in _VERB_EXCEPTIONS else _ending_tier(_past)(w))
_WORD_ANSWERS = ("It is {a}.", "The answer is {a}.")
# One word, but not the words that point at an input ("the noun below"), which no rule applies to.
_WORD_KEY = r"(?!(?:the|this|that|these|below|a|an)(?: |$))[a-z]+"


def _word_facts(rule: Callable[[str], Fact | None], words: list[str]) -> tuple[Fact, ...]:
    return tuple(f for f in map(rule, words) if f is not None)


DIFFERENCE = Family(
    name="difference",
    domain="numbers",
    cores=(
        "what is {x}?",
        "work out {x}.",
        "tell me what {x} makes.",
        "what do you get from {x}?",
        "how much is {x}?",
        "subtract to find {x}.",
    ),
    input_cores=("work out the subtraction below.",),
    answers=("{a}.", "It is {a}."),
    facts=_number_facts(_difference, "minus", [(a, b) for a in range(1, 60) for b in range(1, 60)]),
    key_pattern=r"\d+ minus \d+",
    rule=_difference,
)

LARGER = Family(
    name="larger",
    domain="numbers",
    cores=(
        "which is larger, {x}?",
        "which number is bigger, {x}?",
        "tell me the larger number: {x}.",
        "pick the greater of {x}.",
        "what is the larger one of {x}?",
    ),
    input_cores=("which of the two numbers below is larger?",),
    answers=("{a}.", "It is {a}.", "The larger is {a}."),
    facts=_number_facts(_larger, "or", [(a, b) for a in range(1, 60) for b in range(1, 60)]),
    key_pattern=r"\d+ or \d+",
    rule=_larger,
)

PRODUCT = Family(
    name="product",
    domain="numbers",
    cores=(
        "what is {x}?",
        "work out {x}.",
        "multiply to find {x}.",
        "what do you get for {x}?",
        "how much is {x}?",
    ),
    input_cores=("work out the multiplication below.",),
    answers=("{a}.", "It is {a}."),
    facts=_number_facts(_product, "times", [(a, b) for a in range(11, 60) for b in range(11, 60)]),
    key_pattern=r"\d+ times \d+",
    rule=_product,
)

_reverse = _phrase_rule(lambda parts: " ".join(reversed(parts)))
_sort = _phrase_rule(lambda parts: " ".join(sorted(parts)))
_count = _phrase_rule(lambda parts: str(len(parts)))

REVERSE_WORDS = Family(
    name="reverse_words",
    domain="language",
    cores=(
        "reverse the order of these words: {x}.",
        "say these words backwards: {x}.",
        "write these words from last to first: {x}.",
        "put these words in reverse order: {x}.",
        "turn this phrase around word by word: {x}.",
    ),
    input_cores=("reverse the order of the words below.",),
    answers=_WORD_ANSWERS,
    facts=_phrase_facts("reverse_words", _reverse),
    key_pattern=_PHRASE,
    rule=_reverse,
)

SORT_WORDS = Family(
    name="sort_words",
    domain="language",
    cores=(
        "sort these words alphabetically: {x}.",
        "put these words in alphabetical order: {x}.",
        "arrange these words from a to z: {x}.",
        "list these words in dictionary order: {x}.",
        "order these words alphabetically: {x}.",
    ),
    input_cores=("sort the words below alphabetically.",),
    answers=_WORD_ANSWERS,
    facts=_phrase_facts("sort_words", _sort),
    key_pattern=_PHRASE,
    rule=_sort,
)

COUNT_WORDS = Family(
    name="count_words",
    domain="language",
    cores=(
        "how many words are in this phrase: {x}?",
        "count the words of this phrase: {x}.",
        "tell me how many words this has: {x}.",
        "what is the number of words here: {x}?",
        "give the word count of this phrase: {x}.",
    ),
    input_cores=("how many words does the phrase below have?",),
    answers=("{a}.", "It is {a}.", "There are {a} words."),
    facts=_phrase_facts("count_words", _count),
    key_pattern=_PHRASE,
    rule=_count,
)

PLURAL_RULE = Family(
    name="plural_rule",
    domain="language",
    cores=(
        "spell the plural of {x}.",
        "what is the plural spelling of {x}?",
        "make the noun {x} plural.",
        "how is the plural of {x} spelled?",
        "turn the noun {x} into its plural.",
    ),
    input_cores=("spell the plural of the noun below.",),
    answers=_WORD_ANSWERS,
    facts=_word_facts(_plural_rule, _NOUNS + list(_NOUN_EXCEPTIONS)),
    key_pattern=_WORD_KEY,
    rule=_plural_rule,
    exceptions=frozenset(_NOUN_EXCEPTIONS),
)

PAST_RULE = Family(
    name="past_rule",
    domain="language",
    cores=(
        "spell the past tense of {x}.",
        "what is the past tense spelling of {x}?",
        "make the verb {x} past tense.",
        "how is the past tense of {x} spelled?",
        "turn the verb {x} into its past tense.",
    ),
    input_cores=("spell the past tense of the verb below.",),
    answers=_WORD_ANSWERS,
    facts=_word_facts(_past_rule, _VERBS + list(_VERB_EXCEPTIONS)),
    key_pattern=_WORD_KEY,
    rule=_past_rule,
    exceptions=frozenset(_VERB_EXCEPTIONS),
)

LAST_LETTER = Family(
    name="last_letter",
    domain="language",
    cores=(
        "what is the last letter of the word {x}?",
        "which letter does the word {x} end with?",
        "name the final letter of the word {x}.",
        "tell me the last letter of the word {x}.",
        "give the letter that ends the word {x}.",
    ),
    input_cores=("what is the last letter of the word below?",),
    answers=_WORD_ANSWERS,
    facts=_word_facts(_last_letter, _LETTER_WORDS),
    key_pattern=_WORD_KEY,
    rule=_last_letter,
)


FAMILIES: tuple[Family, ...] = (
    CAPITAL,
    CONTINENT,
    CURRENCY,
    ANTONYM,
    PLURAL,
    PAST_TENSE,
    ELEMENT_SYMBOL,
    SI_UNIT,
    ANIMAL_SOUND,
    BABY_ANIMAL,
    ANIMAL_GROUP,
    NUMBER_WORD,
    ROMAN_NUMERAL,
)

EXTRA: tuple[Family, ...] = (SUM,)  # kinds a config adds to the standard world

# Kinds `data.arena_procedures` adds: answers worked out from the question's own parts.
PROCEDURES: tuple[Family, ...] = (
    DIFFERENCE,
    LARGER,
    REVERSE_WORDS,
    SORT_WORDS,
    COUNT_WORDS,
    PLURAL_RULE,
    PAST_RULE,
    LAST_LETTER,
    PRODUCT,
)

BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES + EXTRA + PROCEDURES}


def spelled_words() -> frozenset[str]:
    """Every word the letter and spelling kinds ask about or answer with: a tokenizer must
    write these with character pieces, or their rules cannot be seen, let alone learned."""
    kinds = (PLURAL_RULE, PAST_RULE, LAST_LETTER)
    return frozenset(w for f in kinds for fact in f.facts for w in (fact.key, fact.answer) if len(w) > 1)
